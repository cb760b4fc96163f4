// What the routes share: configuration, Redis, submissions, events, the store.
import { type Redis } from 'ioredis';
import { type Logger } from 'pino';
import { type Config } from '../config/schema.js';
import { type Images } from '../images/images.js';
import { type LocalSlots } from '../queue/local.js';
import { type Runs } from '../queue/runs.js';
import { type EventHub, type Submissions } from '../queue/submissions.js';
import { type ContentStore } from '../store/content.js';

export interface ApiContext {
  config: Config;
  redis: Redis;
  subs: Submissions;
  runs: Runs;
  images: Images;
  hub: EventHub;
  store: ContentStore;
  log: Logger;
  // open event streams: each entry ends its stream (called at shutdown)
  streams: Set<() => void>;
  // the worker in this process, if any: the fast path for sync requests
  local?: LocalSlots;
}
