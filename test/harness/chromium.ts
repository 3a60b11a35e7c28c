/**
 * Headless Chromium (Debian's `chromium`, installed by scripts/setup-guest-tools) driven over the
 * DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON messages, each ended by a NUL, the
 * browser reading fd 3 and writing fd 4) — no client library, no port. Enough of the protocol for
 * the report render test: open a page at a given viewport width in print media, evaluate an
 * expression in it (from outside: the page itself runs no script and its CSP allows none), print
 * it to PDF.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Readable, Writable } from 'node:stream';

/** The browser binary: $CHROMIUM, else Debian's. */
export const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';

type Pending = { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void; method: string };

export class Chromium {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters: Array<{ method: string; sessionId?: string; resolve: () => void }> = [];
  private buffered = '';
  private stderr = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
  ) {
    const input = child.stdio[4] as Readable;
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => this.receive(chunk));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-4000);
    });
    child.on('exit', (code, signal) => {
      for (const p of this.pending.values())
        p.reject(new Error(`chromium exited (${code ?? signal}) during ${p.method}: ${this.stderr}`));
      this.pending.clear();
    });
  }

  /** Start headless Chromium; fails with what to install when it is not there. */
  static async launch(): Promise<Chromium> {
    if (!fs.existsSync(CHROMIUM))
      throw new Error(
        `${CHROMIUM} not found: the report render test needs Debian's chromium (scripts/setup-guest-tools installs it as root; or apt-get install chromium, or set CHROMIUM)`,
      );
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-chromium-'));
    const child = spawn(
      CHROMIUM,
      [
        '--headless',
        '--remote-debugging-pipe',
        // The test runs as root in a container: Chromium's sandbox needs user namespaces it may not have.
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--no-first-run',
        '--no-default-browser-check',
        '--disable-extensions',
        '--disable-background-networking',
        `--user-data-dir=${profile}`,
        'about:blank',
      ],
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
    );
    const browser = new Chromium(child, profile);
    await browser.send('Browser.getVersion');
    return browser;
  }

  private receive(chunk: string): void {
    this.buffered += chunk;
    let end = this.buffered.indexOf('\0');
    while (end >= 0) {
      const msg = JSON.parse(this.buffered.slice(0, end)) as {
        id?: number;
        method?: string;
        sessionId?: string;
        result?: Record<string, unknown>;
        error?: { message: string };
      };
      this.buffered = this.buffered.slice(end + 1);
      end = this.buffered.indexOf('\0');
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`${p.method}: ${msg.error.message}`));
        else p?.resolve(msg.result ?? {});
      } else if (msg.method) {
        const i = this.waiters.findIndex(
          (w) => w.method === msg.method && (w.sessionId === undefined || w.sessionId === msg.sessionId),
        );
        if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve();
      }
    }
  }

  /** One DevTools protocol command (to the page of `sessionId`, or to the browser). */
  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      (this.child.stdio[3] as Writable).write(`${JSON.stringify({ id, method, params, sessionId })}\0`);
    });
  }

  /** The next event `method` (of `sessionId`): register before the command that causes it. */
  next(method: string, sessionId?: string): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ method, ...(sessionId ? { sessionId } : {}), resolve }));
  }

  /** A new tab showing `file`, laid out `widthPx` CSS pixels wide in print media. */
  async open(file: string, widthPx: number): Promise<Page> {
    const { targetId } = (await this.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as {
      sessionId: string;
    };
    await this.send('Page.enable', {}, sessionId);
    await this.send(
      'Emulation.setDeviceMetricsOverride',
      { width: widthPx, height: 1000, deviceScaleFactor: 1, mobile: false },
      sessionId,
    );
    await this.send('Emulation.setEmulatedMedia', { media: 'print' }, sessionId);
    // A scroll bar would take its width from the page (paper has none).
    await this.send('Emulation.setScrollbarsHidden', { hidden: true }, sessionId);
    const loaded = this.next('Page.loadEventFired', sessionId);
    await this.send('Page.navigate', { url: pathToFileURL(file).href }, sessionId);
    await loaded;
    return new Page(this, sessionId);
  }

  async close(): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once('exit', () => resolve());
    });
    try {
      await this.send('Browser.close');
    } catch {
      // already gone
    }
    await exited;
    fs.rmSync(this.profile, { recursive: true, force: true });
  }
}

export class Page {
  constructor(
    private readonly browser: Chromium,
    readonly sessionId: string,
  ) {}

  /** The value of a JavaScript expression evaluated in the page (by DevTools, not by the page). */
  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.browser.send(
      'Runtime.evaluate',
      { expression, returnByValue: true, awaitPromise: true },
      this.sessionId,
    )) as { result: { value: T }; exceptionDetails?: { text: string; exception?: { description?: string } } };
    if (r.exceptionDetails)
      throw new Error(`evaluate: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value;
  }

  /** The page printed to PDF on A4 (the page's own @page size wins when it sets one). */
  async printToPdf(): Promise<Buffer> {
    const r = (await this.browser.send(
      'Page.printToPDF',
      { paperWidth: 8.27, paperHeight: 11.69, preferCSSPageSize: true, printBackground: true },
      this.sessionId,
    )) as { data: string };
    return Buffer.from(r.data, 'base64');
  }
}
