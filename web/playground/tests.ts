// The tests editor: one row per test (input, expected output), added and removed
// with buttons; each row's fields are labelled with its number.
import type { TestCase } from '../../judge/schema.js';
import { el } from '../dom.js';

export interface TestsEditor {
  tests(): TestCase[];
}

export function testsEditor(list: HTMLOListElement, addButton: HTMLButtonElement): TestsEditor {
  let made = 0;
  const renumber = () => {
    [...list.children].forEach((item, index) => {
      const number = String(index + 1);
      for (const label of item.querySelectorAll<HTMLElement>('[data-number]')) label.textContent = number;
      const remove = item.querySelector('button');
      if (remove) remove.hidden = list.children.length === 1;
    });
  };
  const add = (stdin = '', expected = '') => {
    made += 1;
    const input = el('textarea', { id: `test-${made}-stdin`, rows: '3', spellcheck: 'false', 'data-field': 'stdin' });
    input.value = stdin;
    const answer = el('textarea', { id: `test-${made}-expected`, rows: '3', spellcheck: 'false', 'data-field': 'expected' });
    answer.value = expected;
    const remove = el('button', { type: 'button', class: 'link' }, 'Remove test ', el('span', { 'data-number': '' }));
    const item = el(
      'li',
      { class: 'test' },
      el('label', { for: input.id }, 'Input of test ', el('span', { 'data-number': '' })),
      input,
      el('label', { for: answer.id }, 'Expected output of test ', el('span', { 'data-number': '' })),
      answer,
      remove,
    );
    remove.addEventListener('click', () => {
      const next = (item.nextElementSibling ?? item.previousElementSibling)?.querySelector('textarea');
      item.remove();
      renumber();
      (next as HTMLElement | null | undefined)?.focus();
    });
    list.append(item);
    renumber();
    return input;
  };
  addButton.addEventListener('click', () => add().focus());
  add();
  return {
    tests: () =>
      [...list.children].map((item, index) => ({
        name: `test ${index + 1}`,
        stdin: item.querySelector<HTMLTextAreaElement>('[data-field=stdin]')?.value ?? '',
        expected: item.querySelector<HTMLTextAreaElement>('[data-field=expected]')?.value ?? '',
      })),
  };
}
