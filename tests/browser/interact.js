#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/*
 * Drives emberprof's flame graph page in headless Chromium through
 * playwright-core, as a user would: moves the mouse over a frame, clicks it,
 * types into the search box, flips the orientation, picks a grouping and a
 * trace filter. The page's read-only hook (window.emberprof) is used only to
 * find where a frame is drawn and to read the result back.
 *
 *   interact.js cpusplit PAGE EXPECT   a page of cpusplit's profile (6:3:1);
 *                                      EXPECT the samples holding each work_
 *                                      frame, as pprof -raw counts them
 *   interact.js labels PAGE EXPECT     a page of synth_pprof.py's "labels"
 *                                      profile; EXPECT its printed numbers
 *   interact.js frames PAGE            print the drawn frames as JSON
 *
 * Prints one "ok: ..." line per check; on the first failure prints
 * "fail: ..." and exits 1. CHROMIUM overrides /usr/bin/chromium.
 */
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
	'--disable-component-update', '--disable-sync'];

class Fail extends Error {}

function check(cond, msg) {
	if (!cond)
		throw new Fail(msg);
	console.log('ok: ' + msg);
}

function near(a, b, tol) {
	return Math.abs(a - b) <= tol;
}

async function open(browser, file) {
	const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
	const errors = [];
	page.on('pageerror', (e) => errors.push(String(e)));
	/* Offline: anything but the file itself is refused and reported. */
	const fetched = [];
	await page.route('**/*', (route) => {
		const url = route.request().url();
		if (url.startsWith('file://'))
			return route.continue();
		fetched.push(url);
		return route.abort();
	});
	const t0 = Date.now();
	await page.goto('file://' + path.resolve(file));
	await page.waitForFunction(() => window.emberprof && window.emberprof.ready, null, { timeout: 20000 });
	check(errors.length === 0, `${path.basename(file)} loads without script errors ${errors.join('; ')}`);
	check(fetched.length === 0, `${path.basename(file)} fetches nothing (${fetched.join(' ') || 'none'}) and is ready in ${Date.now() - t0} ms`);
	return page;
}

const frames = (page) => page.evaluate(() => window.emberprof.frames());

async function frameOf(page, name) {
	const all = await frames(page);
	const f = all.filter((x) => x.name === name).sort((a, b) => b.w - a.w)[0];
	if (!f)
		throw new Fail(`no drawn frame named ${name} (drawn: ${[...new Set(all.map((x) => x.name))].join(' ')})`);
	return f;
}

/* The frame's centre in page coordinates. */
async function centre(page, f) {
	const box = await page.locator('#fg').boundingBox();
	return { x: box.x + f.px + f.pw / 2, y: box.y + f.py + f.ph / 2 };
}

/* The drawn width of every frame named NAME, summed. */
async function widthOf(page, name) {
	return (await frames(page)).filter((f) => f.name === name).reduce((w, f) => w + f.w, 0);
}

async function cpusplit(browser, file, expect) {
	/* The page is judged against an independent reader of the same file; the
	 * sampled split itself is test_split's to judge. */
	const part = (n) => expect[n] / expect.total;
	check(expect.total > 0 && expect.work_a > expect.work_b && expect.work_b > expect.work_c,
		`pprof -raw finds work_a ${expect.work_a} > work_b ${expect.work_b} > work_c ${expect.work_c} of ${expect.total}`);
	const page = await open(browser, file);
	let b = await frameOf(page, 'work_b');
	let w = await widthOf(page, 'work_b');
	check(near(w, part('work_b'), 0.002),
		`work_b is drawn ${(100 * w).toFixed(2)}% wide (pprof: ${(100 * part('work_b')).toFixed(2)}%)`);

	/* Hover: the tooltip names the frame with its file:line and shares. */
	let p = await centre(page, b);
	await page.mouse.move(p.x, p.y);
	const tip = await page.locator('#tip').innerText();
	check(await page.locator('#tip').isVisible() && tip.includes('work_b'), 'hovering work_b shows its tooltip');
	const loc = /\S*cpusplit\.c(:\d+| \(function at line \d+\))/.exec(tip);
	check(loc, `the tooltip gives the source file: ${loc && loc[0]}`);
	check(/% of total/.test(tip) && /% of parent/.test(tip) && /native/.test(tip),
		'the tooltip gives the kind and the shares of total and of parent');

	/* Click: work_b fills the width, the breadcrumb leads back to the root. */
	await page.mouse.click(p.x, p.y);
	b = await frameOf(page, 'work_b');
	check(near(b.w, 1, 0.001) && near(b.x, 0, 0.001), `after a click work_b is ${(100 * b.w).toFixed(1)}% wide`);
	const crumbs = await page.locator('#crumbs button').allInnerTexts();
	check(crumbs[0] === 'all' && crumbs[crumbs.length - 1] === 'work_b' && crumbs.includes('run_round'),
		`the breadcrumb reads ${crumbs.join(' › ')}`);
	check((await frames(page)).every((f) => f.name !== 'work_a' || f.depth < b.depth),
		'work_a (a sibling) is no longer drawn');
	await page.locator('#crumbs button', { hasText: /^all$/ }).click();
	w = await widthOf(page, 'work_b');
	check(near(w, part('work_b'), 0.002), 'the breadcrumb\'s "all" zooms back out');
	/* A caller (run_round) zooms too; Esc resets. */
	const r = await frameOf(page, 'run_round');
	p = await centre(page, r);
	await page.mouse.click(p.x, p.y);
	check(await page.evaluate(() => window.emberprof.zoomed()) === 'run_round', 'clicking run_round zooms to it');
	await page.keyboard.press('Escape');
	check(await page.evaluate(() => window.emberprof.zoomed()) === 'all', 'Esc zooms out');

	/* Search: highlights, and sums each sample once. */
	const top = await page.evaluate(() => window.emberprof.top());
	const share = (n) => (top.find((x) => x.name === n) || { total: 0 }).total;
	const search = async (q) => {
		await page.fill('#search', q);
		return parseFloat(await page.locator('#match').getAttribute('data-share'));
	};
	let s = await search('work_');
	const want = share('work_a') + share('work_b') + share('work_c');
	check(near(s, want, 1e-6) && near(s, part('work_a') + part('work_b') + part('work_c'), 1e-6) && s > 0.9,
		`"work_" matches ${(100 * s).toFixed(2)}% of samples (work_a+b+c ${(100 * want).toFixed(2)}%)`);
	const text = await page.locator('#match').innerText();
	check(/Matched: \d+\.\d+%/.test(text), `the page shows "${text}"`);
	const drawn = await frames(page);
	check(drawn.filter((f) => f.match).every((f) => f.name.includes('work_')) &&
		['work_a', 'work_b', 'work_c'].every((n) => drawn.some((f) => f.name === n && f.match)),
		'exactly the work_ frames are highlighted');
	s = await search('work_a');
	check(near(s, share('work_a'), 1e-6) && near(s, part('work_a'), 1e-6),
		`"work_a" matches ${(100 * s).toFixed(4)}% (pprof: ${(100 * part('work_a')).toFixed(4)}%)`);
	s = await search('/^work_[bc]$/');
	check(near(s, share('work_b') + share('work_c'), 1e-6) && near(s, part('work_b') + part('work_c'), 1e-6),
		`the regex /^work_[bc]$/ matches ${(100 * s).toFixed(2)}%`);
	s = await search('worker|run_round');
	check(s === 0, 'text with regex characters is matched literally');
	s = await search('/work(er|_a)/');
	check(near(s, share('worker'), 1e-6), 'a sample matching twice (worker and work_a) counts once');
	await search('');
	check((await frames(page)).every((f) => !f.match), 'clearing the search clears the highlight');

	/* Orientation: the root is at the bottom (flame), then at the top (icicle). */
	const rootY = async () => (await frames(page)).find((f) => f.depth === 0).py;
	const maxY = Math.max(...(await frames(page)).map((f) => f.py));
	check(await rootY() === maxY && maxY > 0, 'flame: the root is the bottom row');
	await page.click('#orient');
	check(await rootY() === 0, 'icicle: the root is the top row');

	/* The kinds: cpusplit's frames are native code. */
	check(top.find((x) => x.name === 'work_a').kind === 'native', 'work_a is coloured as native code');
	await page.close();
}

async function labels(browser, file, expect) {
	const page = await open(browser, file);
	const total = () => page.evaluate(() => window.emberprof.total());
	const all = await total();
	const depth1 = async () => Object.fromEntries((await frames(page)).filter((f) => f.depth === 1)
		.map((f) => [f.name, f.share]));

	await page.selectOption('#group', '1');
	let g = await depth1();
	check(Object.keys(g).length === 2 && Object.entries(expect.process).every(([k, v]) => near(g[k], v, 1e-9)),
		`grouped by process: ${JSON.stringify(g)}`);
	await page.selectOption('#group', '2');
	g = await depth1();
	check(Object.keys(g).length === 3 && Object.entries(expect.thread).every(([k, v]) => near(g[k], v, 1e-9)),
		`grouped by thread: ${JSON.stringify(g)}`);
	const proc = await frameOf(page, 'worker-1 (101)');
	check(proc.kind === 'thread', 'a thread root has its own kind (colour)');
	await page.selectOption('#group', '0');
	check((await depth1()).main === 1, 'no grouping: main is the only child of the root');

	check(await page.locator('#filter-box').isVisible(), 'the trace/span filter is offered');
	const opts = await page.locator('#ids option').evaluateAll((os) => os.map((o) => o.value));
	check(opts.includes(expect.trace) && opts.includes(expect.span), 'its suggestions hold the trace and span ids');
	await page.fill('#filter', expect.trace);
	await page.press('#filter', 'Enter');
	check(near(await total() / all, expect.trace_total / expect.total, 1e-9), `filtered by trace ${expect.trace}: ${await total() / all} of samples`);
	const names = (await frames(page)).map((f) => f.name);
	check(names.includes('parse') && names.includes('render') && !names.includes('idle'), 'only the trace\'s stacks remain');
	await page.fill('#filter', expect.span);
	await page.press('#filter', 'Enter');
	check(near(await total() / all, expect.span_total / expect.total, 1e-9), `filtered by span ${expect.span}`);
	await page.fill('#filter', '');
	await page.press('#filter', 'Enter');
	check(await total() === all, 'clearing the filter shows every sample');

	const top = await page.evaluate(() => window.emberprof.top());
	for (const [name, kind] of Object.entries(expect.kinds)) {
		const row = top.find((x) => x.name === name);
		check(row && row.kind === kind, `${name} is of kind ${kind}`);
	}
	const legend = await page.locator('#legend').innerText();
	check(['native', 'inline', 'kernel', 'JIT', 'unknown'].every((k) => legend.includes(k)), 'the legend names every kind');

	check(await page.locator('#type-box').isVisible(), 'two sample types: a choice is offered');
	check(await page.locator('#type').inputValue() === '1', 'the last sample type (cpu) is the default');
	await page.selectOption('#type', '0');
	check(await total() === expect.total, `samples/count totals ${expect.total}`);
	const tip = await page.evaluate(() => window.emberprof.tooltip('compute'));
	check(/25 samples · 25\.00% of total · 25\.00% of parent/.test(tip), `compute's tooltip: ${tip.replace(/\n/g, ' | ')}`);
	const inl = await page.evaluate(() => window.emberprof.tooltip('helper_inl'));
	check(/^inline · app\/helper_inl\.c:71$/m.test(inl), `helper_inl's tooltip: ${inl.replace(/\n/g, ' | ')}`);
	await page.close();
}

async function main() {
	const [mode, file, extra] = process.argv.slice(2);
	const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ARGS });
	try {
		if (mode === 'cpusplit') {
			await cpusplit(browser, file, JSON.parse(fs.readFileSync(extra, 'utf8')));
		} else if (mode === 'labels') {
			await labels(browser, file, JSON.parse(fs.readFileSync(extra, 'utf8')));
		} else if (mode === 'frames') {
			const page = await open(browser, file);
			const out = { frames: await frames(page), top: await page.evaluate(() => window.emberprof.top()) };
			fs.writeFileSync(extra || '/dev/stdout', JSON.stringify(out));
		} else {
			throw new Fail('usage: interact.js cpusplit|labels|frames PAGE [EXPECT]');
		}
	} finally {
		await browser.close();
	}
}

main().catch((e) => {
	console.log('fail: ' + (e instanceof Fail ? e.message : e.stack || e));
	process.exit(1);
});
