// The pages' HTML: a shell each that the bundles in dist/web/ bring to life. The
// markup is here, complete (labels, landmarks, headings), so that it reads and
// works with the keyboard before and after the script runs.
import { html, raw } from 'hono/html';

type Html = ReturnType<typeof html>;

// A page: `page` names its bundle and its title; a header bar with `nav` when given.
const shell = (page: 'playground' | 'dashboard' | 'sign in', nav: Html | undefined, body: Html) => html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="robots" content="noindex" />
    <title>Cellblock ${page}</title>
    <link rel="stylesheet" href="/assets/${page === 'playground' ? 'playground' : 'admin'}.css" />
    <script type="module" src="/assets/${page === 'playground' ? 'playground' : 'admin'}.js"></script>
  </head>
  <body>
    <a class="skip" href="#main">Skip to content</a>
    ${nav ? html`<header class="bar"><h1>Cellblock <span>${page}</span></h1>${nav}</header>` : raw('')}
    ${body}
  </body>
</html>`;

export const playgroundPage = () =>
  shell(
    'playground',
    html`<nav aria-label="Links"><a href="/docs">API</a></nav>`,
    html`<main id="main" class="playground">
        <form id="run-form" class="panel source" aria-labelledby="source-heading" novalidate>
          <h2 id="source-heading">Program</h2>
          <div class="row">
            <label for="language">Language</label>
            <select id="language" name="language" required><option value="">Loading languages…</option></select>
          </div>
          <div class="editor-label" id="editor-label">Source <small>(Tab leaves the editor; Ctrl+Enter runs)</small></div>
          <div id="editor" class="editor"></div>
          <details class="settings">
            <summary>Limits, checker and API key</summary>
            <div class="grid">
              <label for="time-ms">Time limit (ms)</label>
              <input id="time-ms" name="timeMs" type="number" inputmode="numeric" min="1" value="1000" />
              <label for="memory-mb">Memory limit (MB)</label>
              <input id="memory-mb" name="memoryMb" type="number" inputmode="numeric" min="4" value="256" />
              <label for="checker">Compare output</label>
              <select id="checker" name="checker">
                <option value="tokens">by tokens (whitespace ignored)</option>
                <option value="lines">by lines</option>
                <option value="exact">exactly</option>
                <option value="none">don't: show the output</option>
              </select>
              <label for="api-key">API key</label>
              <input id="api-key" name="apiKey" type="password" autocomplete="off" placeholder="only if the server asks for one" />
            </div>
          </details>
          <fieldset class="tests">
            <legend>Tests</legend>
            <ol id="tests"></ol>
            <button type="button" id="add-test">Add a test</button>
          </fieldset>
          <div class="actions">
            <button type="submit" id="run" class="primary">Run</button>
            <button type="button" id="cancel" hidden>Cancel</button>
          </div>
        </form>
        <section class="panel results" aria-labelledby="results-heading">
          <h2 id="results-heading">Result</h2>
          <p id="status" role="status" aria-live="polite">Write a program, give it tests, and run it.</p>
          <div id="error" role="alert" class="error" hidden></div>
          <div id="summary" class="summary" hidden></div>
          <section id="compile" hidden aria-labelledby="compile-heading">
            <h3 id="compile-heading">Compiler output</h3>
            <pre id="compile-output" tabindex="0"></pre>
          </section>
          <div class="table-wrap">
            <table id="test-results" hidden>
              <caption class="visually-hidden">Tests</caption>
              <thead><tr><th scope="col">Test</th><th scope="col">Verdict</th><th scope="col">Time</th><th scope="col">Memory</th><th scope="col">Details</th></tr></thead>
              <tbody></tbody>
            </table>
          </div>
        </section>
      </main>`,
  );

export const dashboardPage = () =>
  shell(
    'dashboard',
    html`<nav aria-label="Dashboard">
      <a href="/admin/queues">Queues (bull-board)</a>
      <form method="post" action="/admin/logout"><button type="submit">Sign out</button></form>
    </nav>`,
    html`<main id="main" class="dashboard">
        <p id="updated" role="status" aria-live="polite">Loading…</p>
        <div id="error" role="alert" class="error" hidden></div>
        <section class="panel" aria-labelledby="health-heading"><h2 id="health-heading">Health</h2><div id="health"></div></section>
        <section class="panel" aria-labelledby="queues-heading"><h2 id="queues-heading">Queues</h2><div id="queues" class="table-wrap"></div></section>
        <section class="panel" aria-labelledby="workers-heading"><h2 id="workers-heading">Workers</h2><div id="workers" class="table-wrap"></div></section>
        <section class="panel" aria-labelledby="jobs-heading"><h2 id="jobs-heading">Jobs in the queue</h2><div id="jobs" class="table-wrap"></div></section>
        <section class="panel" aria-labelledby="verdicts-heading"><h2 id="verdicts-heading">Recent verdicts by language</h2><div id="verdicts" class="table-wrap"></div></section>
        <section class="panel" aria-labelledby="sandbox-heading"><h2 id="sandbox-heading">Sandbox (cellblock doctor)</h2><div id="sandbox" class="table-wrap"></div></section>
      </main>`,
  );

export const loginPage = (message: string) =>
  shell(
    'sign in',
    undefined,
    html`<main id="main" class="login">
      <form method="post" action="/admin/login" class="panel">
        <h1>Cellblock dashboard</h1>
        ${message ? html`<p role="alert" class="error">${message}</p>` : raw('')}
        <label for="admin-key">Admin key</label>
        <input id="admin-key" name="key" type="password" autocomplete="current-password" required autofocus />
        <button type="submit" class="primary">Sign in</button>
      </form>
    </main>`,
  );
