/**
 * The documentation reads as one: the README is the front page with docs/ behind it, and every
 * relative link in README.md and docs/*.md leads to a file of the repository and, where it names a
 * section (#anchor), to a heading of that file (GitHub's anchors, as github-slugger
 * makes them).
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import GithubSlugger from 'github-slugger';
import { ROOT } from '../../local-aws/local-aws.js';

const pages = [
  'README.md',
  ...fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** The text outside fenced code blocks (a `#` or `[x](y)` inside a shell example is not markdown). */
function prose(md: string): string {
  let fenced = false;
  return md
    .split('\n')
    .filter((line) => {
      if (line.startsWith('```')) fenced = !fenced;
      return !fenced && !line.startsWith('```');
    })
    .join('\n');
}

/** The anchors GitHub gives the headings of a page (github-slugger: GitHub's own rules, repeats numbered). */
function anchors(md: string): Set<string> {
  const slugger = new GithubSlugger();
  return new Set([...prose(md).matchAll(/^#{1,6} (.+)$/gm)].map((m) => slugger.slug(m[1]!.trim())));
}

function links(md: string): string[] {
  return [
    ...prose(md)
      .replace(/`[^`\n]*`/g, '')
      .matchAll(/\]\(([^)\s]+)\)/g),
  ]
    .map((m) => m[1]!)
    .filter((l) => !/^[a-z]+:/.test(l));
}

t.test('every relative link of the README and docs/ leads to a file and a heading that exist', async (t) => {
  let checked = 0;
  for (const page of pages) {
    for (const link of links(fs.readFileSync(path.join(ROOT, page), 'utf8'))) {
      const [file, anchor] = link.split('#') as [string, string | undefined];
      const target = file ? path.normalize(path.join(path.dirname(page), file)) : page;
      const exists = fs.existsSync(path.join(ROOT, target));
      t.ok(exists, `${page}: ${link} — ${target} exists`);
      if (exists && anchor !== undefined) {
        t.ok(
          anchors(fs.readFileSync(path.join(ROOT, target), 'utf8')).has(anchor),
          `${page}: ${link} — ${target} has #${anchor}`,
        );
      }
      checked++;
    }
  }
  t.ok(checked > 10, `${checked} links checked`);
});

t.test(
  'the README is the front page: the two commands first, then one case, then an index of every docs/ page',
  async (t) => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const demo = readme.indexOf('npm run demo');
    t.ok(
      demo > 0 && demo < readme.indexOf('npm test') && readme.indexOf('npm test') < readme.indexOf('\n## '),
      'npm run demo and npm test before the first section',
    );
    t.match(
      readme,
      /older than 22.*Node 24/s,
      'says that it brings its own Node 24 where the system Node is older than 22',
    );
    const readMore = readme.slice(readme.indexOf('\n## Read more\n'));
    t.ok(readme.includes('\n## Read more\n'), 'has a "Read more" index');
    for (const page of pages.filter((p) => p.startsWith('docs/')))
      t.ok(readMore.includes(`](${page})`), `the index links ${page}`);
    t.ok(readme.split('\n').length < 80, 'the front page stays short');
  },
);
