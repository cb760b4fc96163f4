// piston-client ships no types: the part the compatibility tests use.
declare module 'piston-client' {
  interface ExecuteOptions {
    stdin?: string;
    args?: string[];
    runTimeout?: number;
    compileTimeout?: number;
  }
  interface Client {
    runtimes(): Promise<unknown>;
    execute(language: string, code: string, options?: ExecuteOptions): Promise<unknown>;
  }
  export function piston(options: { server: string }): Client;
}
