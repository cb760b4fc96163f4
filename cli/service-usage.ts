// The service commands' usage, apart from their code: the CLI loads the
// service's libraries (BullMQ, Hono, ioredis) only when one of them runs.
export const SERVE_USAGE = `usage: cellblock serve [--host 127.0.0.1] [--port 2358] [--data DIR] [--workers N]
       cellblock api [--host H] [--port P]        (needs REDIS_URL)
       cellblock worker [--workers N]              (needs REDIS_URL)
  Settings also come from CELLBLOCK_HOST, CELLBLOCK_PORT, CELLBLOCK_DATA, CELLBLOCK_WORKERS, REDIS_URL, …
  and a JSON file named by CELLBLOCK_CONFIG (see README).`;
