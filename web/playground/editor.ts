// The source editor: CodeMirror 6 with the mode of the chosen language. Tab is
// left to the browser (focus moves on), so the page stays usable by keyboard.
import { StreamLanguage, type StreamParser } from '@codemirror/language';
import { type Extension, Compartment, Prec } from '@codemirror/state';
import { EditorView, keymap, placeholder } from '@codemirror/view';
import { basicSetup } from 'codemirror';

// By language id (profiles/languages/*.json), each loaded when first chosen (the
// bundler splits them into chunks of their own); an id not here is plain text.
const legacy = async (parser: Promise<StreamParser<unknown>>): Promise<Extension> => StreamLanguage.define(await parser);
const MODES: Record<string, () => Promise<Extension>> = {
  c: async () => (await import('@codemirror/lang-cpp')).cpp(),
  cpp: async () => (await import('@codemirror/lang-cpp')).cpp(),
  go: async () => (await import('@codemirror/lang-go')).go(),
  java: async () => (await import('@codemirror/lang-java')).java(),
  javascript: async () => (await import('@codemirror/lang-javascript')).javascript(),
  php: async () => (await import('@codemirror/lang-php')).php({ plain: true }),
  python3: async () => (await import('@codemirror/lang-python')).python(),
  rust: async () => (await import('@codemirror/lang-rust')).rust(),
  ruby: () => legacy(import('@codemirror/legacy-modes/mode/ruby').then((module) => module.ruby)),
  pascal: () => legacy(import('@codemirror/legacy-modes/mode/pascal').then((module) => module.pascal)),
  bash: () => legacy(import('@codemirror/legacy-modes/mode/shell').then((module) => module.shell)),
};

export interface SourceEditor {
  text(): string;
  setLanguage(id: string): void;
  focus(): void;
}

export function sourceEditor(parent: HTMLElement, labelledBy: string, onRun: () => void): SourceEditor {
  const mode = new Compartment();
  let wanted = '';
  const view = new EditorView({
    parent,
    extensions: [
      basicSetup,
      mode.of([]),
      placeholder('Write your program here'),
      EditorView.contentAttributes.of({ 'aria-labelledby': labelledBy }),
      Prec.highest(keymap.of([{ key: 'Mod-Enter', run: () => (onRun(), true) }])),
    ],
  });
  return {
    text: () => view.state.doc.toString(),
    setLanguage(id) {
      wanted = id;
      const load = MODES[id] ?? (async () => []);
      void load().then((extension) => {
        // a language chosen meanwhile wins
        if (wanted === id) view.dispatch({ effects: mode.reconfigure(extension) });
      });
    },
    focus: () => view.focus(),
  };
}
