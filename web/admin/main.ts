// The operator's dashboard: /admin/api/overview drawn as tables, refreshed every
// few seconds (and on demand with R). The sign-in page loads this bundle too, for
// its styles only.
import type { JobRow, Overview } from '../../api/web/overview.js';
import { ApiFailure, request } from '../api.js';
import { byId, el, formatSeconds, table } from '../dom.js';
import { explain } from '../errors.js';
import '../style.css';

const REFRESH_MS = 5_000;
const VERDICT_ORDER = ['AC', 'PA', 'WA', 'PE', 'TLE', 'MLE', 'OLE', 'RE', 'CE', 'SV', 'IE', 'SK', 'cancelled'];

const ok = (good: boolean, text = good ? 'ok' : 'failing') => el('span', { class: good ? 'ok' : 'bad' }, text);
const none = (what: string) => el('p', { class: 'muted' }, what);

function health(data: Overview): Node[] {
  const { redis, sandbox } = data;
  const redisLine = redis.ok
    ? `Redis ${redis.version}, up ${formatSeconds(redis.uptimeSeconds ?? 0)}, ${redis.usedMemory} used, ${redis.clients} clients, ping ${redis.pingMs} ms${redis.appendOnly ? ', append-only' : ''}`
    : `Redis unreachable: ${redis.error}`;
  const sandboxLine = sandbox.report
    ? `kernel ${sandbox.report.kernel}, cgroup ${sandbox.report.cgroupVersion}, Landlock ABI ${sandbox.report.landlockAbi}; launch: ${sandbox.report.launch.detail}`
    : `doctor failed: ${sandbox.error}`;
  return [
    el(
      'dl',
      { class: 'health' },
      el('dt', {}, 'Redis'),
      el('dd', { 'data-health': 'redis' }, ok(redis.ok), ` ${redisLine}`),
      el('dt', {}, `Sandbox on ${sandbox.host}`),
      el('dd', { 'data-health': 'sandbox' }, ok(sandbox.healthy), ` ${sandboxLine}`),
    ),
    ...data.problems.map((problem) => el('p', { class: 'error' }, problem)),
  ];
}

const jobRow = (job: JobRow) => [
  el('code', { 'data-job': job.id }, job.id),
  job.state,
  job.language ?? '?',
  job.tenant ?? '?',
  job.processedBy ?? '',
  String(job.attemptsMade),
  formatSeconds(job.ageSeconds),
];

function verdicts(data: Overview): Node {
  const languages = Object.keys(data.verdicts).sort();
  if (languages.length === 0) return none('No submission finished lately.');
  const seen = new Set(languages.flatMap((language) => Object.keys(data.verdicts[language] ?? {})));
  const columns = VERDICT_ORDER.filter((verdict) => seen.has(verdict));
  const rows = languages.map((language) => [language, ...columns.map((verdict) => String(data.verdicts[language]?.[verdict] ?? 0))]);
  const recent = table(
    'Last finished',
    ['When', 'Id', 'Language', 'Tenant', 'Verdict'],
    data.recent.map((entry) => [new Date(entry.at).toLocaleTimeString(), el('code', {}, entry.id), entry.language, entry.tenant, entry.verdict ?? entry.status]),
  );
  return el(
    'div',
    {},
    el('p', { class: 'muted' }, `Over the last ${data.recentCount} finished submissions.`),
    table('Verdicts by language', ['Language', ...columns], rows),
    el('h3', {}, 'Last finished'),
    recent,
  );
}

function sandbox(data: Overview): Node {
  const report = data.sandbox.report;
  if (!report) return none(data.sandbox.error ?? 'no report');
  return table(
    'Doctor checks',
    ['Check', 'State', 'Detail'],
    [
      ...report.checks.map((check) => [check.name, ok(check.ok, check.ok ? 'ok' : 'missing'), check.ok ? check.detail : `${check.detail}; without it: ${check.fallback}`]),
      ['launch /bin/true', ok(report.launch.ok), report.launch.detail],
    ],
  );
}

function draw(data: Overview): void {
  byId('health').replaceChildren(...health(data));
  byId('queues').replaceChildren(
    table(
      'Queues',
      ['Queue', 'Waiting', 'Prioritized', 'Active', 'Delayed', 'Completed', 'Failed'],
      data.queues.map(({ name, counts }) => [
        el('a', { href: `/admin/queues/queue/${encodeURIComponent(name)}` }, name),
        ...['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'].map((state) => String(counts[state] ?? 0)),
      ]),
    ),
  );
  byId('workers').replaceChildren(
    data.workers.length === 0
      ? none('No worker is connected: submissions wait in the queue.')
      : table(
          'Workers',
          ['Worker', 'Host', 'Pid', 'Slots busy', 'Connected for'],
          data.workers.map((worker) => [worker.name, worker.host, String(worker.pid), `${worker.busy} of ${worker.slots}`, formatSeconds(worker.ageSeconds)]),
        ),
  );
  byId('jobs').replaceChildren(
    data.jobs.length === 0
      ? none('The queue is empty.')
      : table('Jobs', ['Id', 'State', 'Language', 'Tenant', 'Worker', 'Attempts', 'Age'], data.jobs.map(jobRow)),
  );
  byId('verdicts').replaceChildren(verdicts(data));
  byId('sandbox').replaceChildren(sandbox(data));
  byId('updated').textContent = `Updated ${new Date(data.at).toLocaleTimeString()}; refreshes every ${REFRESH_MS / 1000} s (press R to refresh now).`;
}

async function refresh(): Promise<void> {
  const error = byId('error');
  try {
    draw(await request<Overview>('GET', '/admin/api/overview', ''));
    error.hidden = true;
  } catch (failure) {
    if (failure instanceof ApiFailure && failure.code === 'UNAUTHORIZED') {
      location.reload(); // signed out elsewhere: the page shows the sign-in form
      return;
    }
    const { headline, detail } = explain(failure instanceof ApiFailure ? failure : new ApiFailure('NETWORK', String(failure)));
    error.replaceChildren(el('p', {}, headline), el('p', { class: 'detail' }, detail));
    error.hidden = false;
  }
}

// A refresh now, then every REFRESH_MS; a refresh asked for meanwhile takes over the timer.
let timer: ReturnType<typeof setTimeout> | undefined;
let generation = 0;
async function cycle(): Promise<void> {
  const mine = ++generation;
  clearTimeout(timer);
  await refresh();
  if (mine === generation) timer = setTimeout(() => void cycle(), REFRESH_MS);
}

if (document.getElementById('health')) {
  void cycle();
  document.addEventListener('keydown', (event) => {
    const target = event.target as HTMLElement;
    if (event.key === 'r' && !event.ctrlKey && !event.metaKey && !event.altKey && !target.closest('input, textarea, select')) void cycle();
  });
}
