// The playground: pick a language, write a program, give tests, run it through
// the public API (/v1) with the caller's key, and watch each test's verdict
// arrive from the submission's event stream.
import type { TestResult } from '../../judge/schema.js';
import type { SubmissionState, SubmissionView } from '../../queue/schema.js';
import { ApiFailure, request, serverEvents } from '../api.js';
import { byId, el } from '../dom.js';
import '../style.css';
import { sourceEditor } from './editor.js';
import { results } from './results.js';
import { testsEditor } from './tests.js';

interface Language {
  id: string;
  name: string;
  available: boolean;
  version: string | null;
}

type Event =
  | { event: 'state'; data: SubmissionView }
  | { event: 'status'; data: { status: SubmissionState } }
  | { event: 'test'; data: { index: number; total: number; test: TestResult } }
  | { event: 'done'; data: { submission: SubmissionView } }
  | { event: 'ping'; data: unknown };

const KEY_STORE = 'cellblock.apiKey';
const LANGUAGE_STORE = 'cellblock.language';
const isFinal = (status: SubmissionState) => status === 'done' || status === 'cancelled';

const form = byId<HTMLFormElement>('run-form');
const languageSelect = byId<HTMLSelectElement>('language');
const keyInput = byId<HTMLInputElement>('api-key');
const cancelButton = byId<HTMLButtonElement>('cancel');
const panel = results();
const editor = sourceEditor(byId('editor'), 'editor-label', () => form.requestSubmit());
const tests = testsEditor(byId<HTMLOListElement>('tests'), byId<HTMLButtonElement>('add-test'));

keyInput.value = sessionStorage.getItem(KEY_STORE) ?? '';
keyInput.addEventListener('change', () => sessionStorage.setItem(KEY_STORE, keyInput.value));
languageSelect.addEventListener('change', () => {
  editor.setLanguage(languageSelect.value);
  localStorage.setItem(LANGUAGE_STORE, languageSelect.value);
});
// Ctrl+Enter runs from any field, not only the editor
form.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    form.requestSubmit();
  }
});

async function loadLanguages(): Promise<void> {
  try {
    const languages = await request<Language[]>('GET', '/v1/languages', keyInput.value);
    languages.sort((a, b) => Number(b.available) - Number(a.available) || a.name.localeCompare(b.name));
    languageSelect.replaceChildren(
      ...languages.map((language) =>
        el(
          'option',
          { value: language.id, ...(language.available ? {} : { disabled: '' }) },
          `${language.name}${language.version ? ` (${language.version})` : ''}${language.available ? '' : ' (not installed)'}`,
        ),
      ),
    );
    const remembered = localStorage.getItem(LANGUAGE_STORE);
    if (remembered && languages.some((language) => language.id === remembered && language.available)) languageSelect.value = remembered;
    editor.setLanguage(languageSelect.value);
    form.dataset.ready = 'true';
  } catch (error) {
    panel.failure(error instanceof ApiFailure ? error : new ApiFailure('NETWORK', String(error)));
  }
}

let current: { id?: string; abort: AbortController } | undefined;

function submission() {
  const number = (id: string) => Number(byId<HTMLInputElement>(id).value);
  const checker = byId<HTMLSelectElement>('checker').value;
  return {
    language: languageSelect.value,
    source: editor.text(),
    tests: tests.tests(),
    limits: { timeMs: number('time-ms'), memoryKb: Math.round(number('memory-mb') * 1024) },
    checker: { kind: checker },
    keepOutput: true,
  };
}

// Follows the submission's events until it is judged; returns its final view.
async function follow(id: string, abort: AbortController): Promise<SubmissionView | undefined> {
  for await (const { event, data } of serverEvents(`/v1/submissions/${encodeURIComponent(id)}/events`, keyInput.value, abort.signal) as AsyncGenerator<Event>) {
    if (event === 'state') {
      (data.tests ?? []).forEach((test, index) => panel.test(index, test));
      if (isFinal(data.status)) return data;
      panel.status(data.status === 'running' ? 'Running…' : 'Queued: waiting for a free sandbox…');
    } else if (event === 'status') {
      panel.status(data.status === 'running' ? 'Compiling and running…' : `Status: ${data.status}`);
    } else if (event === 'test') {
      panel.test(data.index, data.test);
      panel.status(`Judged ${data.index + 1} of ${data.total} tests…`);
    } else if (event === 'done') {
      return data.submission;
    }
  }
  return undefined;
}

async function run(): Promise<void> {
  if (current) return;
  const body = submission();
  const abort = new AbortController();
  current = { abort };
  form.setAttribute('aria-busy', 'true');
  cancelButton.hidden = false;
  panel.start(body.tests.map((test) => test.name));
  panel.status('Sending…');
  try {
    const { id } = await request<{ id: string }>('POST', '/v1/submissions', keyInput.value, body);
    current.id = id;
    if (abort.signal.aborted) {
      // cancelled before the id came back
      panel.final(await request<SubmissionView>('DELETE', `/v1/submissions/${encodeURIComponent(id)}`, keyInput.value));
      return;
    }
    panel.status('Queued: waiting for a free sandbox…');
    // the stream can end without "done" (the server restarting): then ask once
    const view = (await follow(id, abort)) ?? (await request<SubmissionView>('GET', `/v1/submissions/${encodeURIComponent(id)}`, keyInput.value));
    panel.final(view);
  } catch (error) {
    if (!abort.signal.aborted) panel.failure(error instanceof ApiFailure ? error : new ApiFailure('NETWORK', String(error)));
  } finally {
    current = undefined;
    form.removeAttribute('aria-busy');
    cancelButton.hidden = true;
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!languageSelect.value) {
    languageSelect.focus();
    return;
  }
  void run();
});

cancelButton.addEventListener('click', () => {
  const running = current;
  if (!running) return;
  running.abort.abort();
  panel.status('Cancelling…');
  if (!running.id) return;
  request<SubmissionView>('DELETE', `/v1/submissions/${encodeURIComponent(running.id)}`, keyInput.value).then(
    (view) => panel.final(view),
    (error: unknown) => panel.failure(error instanceof ApiFailure ? error : new ApiFailure('NETWORK', String(error))),
  );
  byId<HTMLButtonElement>('run').focus();
});

void loadLanguages();
