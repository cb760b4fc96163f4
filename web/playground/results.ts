// The result panel: a row per test, filled as each test's verdict arrives, then
// the overall verdict, the compiler's output, or a clear error.
import type { TestResult, Verdict } from '../../judge/schema.js';
import type { SubmissionView } from '../../queue/schema.js';
import { type ApiFailure } from '../api.js';
import { byId, el, formatKb, formatMs } from '../dom.js';
import { explain } from '../errors.js';

const VERDICTS: Record<Verdict, string> = {
  AC: 'Accepted',
  PA: 'Partially accepted',
  WA: 'Wrong answer',
  PE: 'Presentation error',
  TLE: 'Time limit exceeded',
  MLE: 'Memory limit exceeded',
  OLE: 'Output limit exceeded',
  RE: 'Runtime error',
  CE: 'Compilation error',
  SV: 'Security violation',
  IE: 'Internal error (ours)',
  SK: 'Skipped',
};

const badge = (verdict: Verdict) =>
  el('span', { class: `verdict v-${verdict}`, 'data-verdict': verdict }, el('abbr', { title: VERDICTS[verdict] }, verdict), ` ${VERDICTS[verdict]}`);

function outputOf(test: TestResult): HTMLElement | null {
  const parts = [
    test.stdout ? ['stdout', test.stdout] : null,
    test.stderr ? ['stderr', test.stderr] : null,
  ].filter((part): part is [string, string] => part !== null);
  if (parts.length === 0) return null;
  return el('details', {}, el('summary', {}, 'Output'), ...parts.flatMap(([name, text]) => [el('h4', {}, name), el('pre', { tabindex: '0' }, text)]));
}

export interface Results {
  start(names: string[]): void;
  status(text: string): void;
  test(index: number, test: TestResult): void;
  final(view: SubmissionView): void;
  failure(failure: ApiFailure): void;
}

export function results(): Results {
  const status = byId('status');
  const error = byId('error');
  const summary = byId('summary');
  const tableElement = byId<HTMLTableElement>('test-results');
  const body = tableElement.tBodies[0] as HTMLTableSectionElement;
  const compile = byId('compile');
  const compileOutput = byId('compile-output');

  const row = (index: number, name: string, cells: (Node | string)[]) =>
    el('tr', { 'data-test': String(index) }, el('th', { scope: 'row' }, name), ...cells.map((cell) => el('td', {}, cell)));

  return {
    start(names) {
      error.hidden = true;
      summary.hidden = true;
      compile.hidden = true;
      body.replaceChildren(...names.map((name, index) => row(index, name, ['waiting', '', '', ''])));
      tableElement.hidden = names.length === 0;
    },
    status(text) {
      status.textContent = text;
    },
    test(index, test) {
      const details = el('div', {}, test.message, outputOf(test));
      const fresh = row(index, test.name, [badge(test.verdict), formatMs(test.cpuMs), formatKb(test.memoryKb), details]);
      const old = body.querySelector(`tr[data-test="${index}"]`);
      if (old) old.replaceWith(fresh);
      else body.append(fresh);
      tableElement.hidden = false;
    },
    final(view) {
      if (view.status === 'cancelled') {
        status.textContent = 'Cancelled.';
        return;
      }
      (view.tests ?? []).forEach((test, index) => this.test(index, test));
      if (view.compile && (view.compile.status === 'error' || view.compile.output.trim())) {
        compileOutput.textContent = view.compile.output || '(no output)';
        compile.hidden = false;
      }
      if (!view.verdict) return;
      summary.replaceChildren(
        el(
          'p',
          {},
          badge(view.verdict),
          ` · score ${view.score ?? 0} of ${view.maxScore ?? 100}`,
          // a program that never ran has no time or memory to tell
          view.verdict !== 'CE' && view.maxCpuMs !== undefined && ` · slowest test ${formatMs(view.maxCpuMs)}`,
          view.verdict !== 'CE' && view.maxMemoryKb !== undefined && ` · peak memory ${formatKb(view.maxMemoryKb)}`,
        ),
        el('p', { class: 'error' }, view.error ?? ''),
      );
      summary.setAttribute('data-verdict', view.verdict);
      summary.hidden = false;
      status.textContent = `Judged: ${view.verdict} (${VERDICTS[view.verdict]}).`;
    },
    failure(failure) {
      const { headline, detail } = explain(failure);
      error.replaceChildren(el('p', {}, el('strong', {}, headline)), el('p', { class: 'detail' }, detail));
      error.setAttribute('data-code', failure.code);
      error.hidden = false;
      status.textContent = 'Not judged.';
    },
  };
}
