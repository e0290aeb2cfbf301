// driver.js runs one headless Chromium (Debian's, through playwright-core;
// never a browser download) for internal/browser. It reads commands as JSON
// lines on stdin and answers each on stdout:
//   {"id":1,"op":"open","page":"alice","url":"http://127.0.0.1:P/"}
//   {"id":2,"op":"call","page":"alice","fn":"join","args":[...]}
//   {"id":3,"op":"close","page":"alice"}      closes the tab, no goodbye
//   {"id":4,"op":"quit"}
// Answers: {"id":1,"ok":true,"result":...} or {"id":1,"ok":false,"error":"..."}.
// Console lines of the pages come as {"log":"alice","text":"..."}.
// The launch settings come as one JSON argument: {chromium, userDataDir, args}.
'use strict';

const readline = require('readline');
const { chromium } = require('playwright-core');

const cfg = JSON.parse(process.argv[2]);

function send(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

async function main() {
  // A persistent context, so that Chromium gets the fresh profile folder
  // the Go side made (and removes).
  const context = await chromium.launchPersistentContext(cfg.userDataDir, {
    executablePath: cfg.chromium,
    headless: true,
    args: cfg.args,
    // playwright mutes audio output by default; the tabs play nothing, but
    // keep Chromium's audio stack as an app would have it.
    ignoreDefaultArgs: ['--mute-audio'],
    permissions: ['camera', 'microphone'],
  });
  const browser = context.browser();
  const pages = new Map();
  context.on('close', () => { send({ log: '', text: 'chromium exited' }); process.exit(3); });

  const ops = {
    async open(c) {
      if (pages.has(c.page)) throw new Error(`page ${c.page} is open already`);
      const page = await context.newPage();
      page.on('console', (m) => send({ log: c.page, text: m.text() }));
      page.on('pageerror', (e) => send({ log: c.page, text: 'page error: ' + String(e) }));
      await page.goto(c.url);
      await page.waitForFunction(() => window.rc !== undefined, null, { timeout: 10000 });
      pages.set(c.page, page);
      return true;
    },
    async call(c) {
      const page = pages.get(c.page);
      if (!page) throw new Error(`no page ${c.page}`);
      return page.evaluate(({ fn, args }) => window.rc[fn](...args), { fn: c.fn, args: c.args || [] });
    },
    async close(c) {
      const page = pages.get(c.page);
      if (!page) throw new Error(`no page ${c.page}`);
      pages.delete(c.page);
      await page.close({ runBeforeUnload: false });
      return true;
    },
    async quit() {
      await context.close();
      return true;
    },
  };

  send({ ready: true, chromium: browser ? browser.version() : '' });
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const c = JSON.parse(line);
    const op = ops[c.op];
    if (!op) {
      send({ id: c.id, ok: false, error: `unknown op ${c.op}` });
      continue;
    }
    // Calls run concurrently: one page's slow join must not hold another's.
    op(c).then(
      (result) => {
        send({ id: c.id, ok: true, result: result === undefined ? null : result });
        if (c.op === 'quit') process.exit(0);
      },
      (e) => send({ id: c.id, ok: false, error: String(e && e.message ? e.message : e) }),
    );
  }
  // stdin closed: the Go side is gone.
  await context.close().catch(() => {});
  process.exit(0);
}

main().catch((e) => {
  send({ fatal: String(e && e.stack ? e.stack : e) });
  process.exit(2);
});
