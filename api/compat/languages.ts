// Our language ids as Judge0 CE, Piston and Jobe name them, for the languages we have.
export interface CompatLanguage {
  id: string; // ours
  judge0: number; // Judge0 CE's language_id
  judge0Name: string; // Judge0's display name, with our toolchain's version
  piston: string; // Piston's language name
  pistonAliases: string[];
  pistonRuntime?: string;
  jobe?: string; // Jobe's language_id
}

export const COMPAT_LANGUAGES: CompatLanguage[] = [
  { id: 'c', judge0: 50, judge0Name: 'C (GCC {v})', piston: 'c', pistonAliases: ['gcc'], pistonRuntime: 'gcc', jobe: 'c' },
  { id: 'cpp', judge0: 54, judge0Name: 'C++ (GCC {v})', piston: 'c++', pistonAliases: ['cpp', 'g++'], pistonRuntime: 'gcc', jobe: 'cpp' },
  { id: 'python3', judge0: 71, judge0Name: 'Python ({v})', piston: 'python', pistonAliases: ['py', 'py3', 'python3'], jobe: 'python3' },
  { id: 'javascript', judge0: 63, judge0Name: 'JavaScript (Node.js {v})', piston: 'javascript', pistonAliases: ['node-javascript', 'node-js', 'javascript', 'js'], pistonRuntime: 'node', jobe: 'nodejs' },
  { id: 'java', judge0: 62, judge0Name: 'Java (OpenJDK {v})', piston: 'java', pistonAliases: [], jobe: 'java' },
  { id: 'rust', judge0: 73, judge0Name: 'Rust ({v})', piston: 'rust', pistonAliases: ['rs'] },
  { id: 'bash', judge0: 46, judge0Name: 'Bash ({v})', piston: 'bash', pistonAliases: ['sh'] },
  { id: 'go', judge0: 60, judge0Name: 'Go ({v})', piston: 'go', pistonAliases: ['go', 'golang'] },
  { id: 'ruby', judge0: 72, judge0Name: 'Ruby ({v})', piston: 'ruby', pistonAliases: ['ruby3', 'rb'] },
  { id: 'php', judge0: 68, judge0Name: 'PHP ({v})', piston: 'php', pistonAliases: [], jobe: 'php' },
  { id: 'pascal', judge0: 67, judge0Name: 'Pascal (FPC {v})', piston: 'pascal', pistonAliases: ['freepascal', 'pp', 'pas'], pistonRuntime: 'fpc', jobe: 'pascal' },
];
