// The web UI in a real browser (Debian's Chromium, driven by playwright-core).
// Run by tests/browser.rs against a server loaded with demo data:
//   BASE_URL, KEY, ARTIFACTS (folder for screenshots), CHROMIUM (binary).
// Exits non-zero, with the reason, on the first expectation that fails.
const { chromium } = require('playwright-core');
const assert = require('node:assert/strict');

const base = process.env.BASE_URL;
const shot = (page, name) => page.screenshot({ path: `${process.env.ARTIFACTS}/${name}.png`, fullPage: true });

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    // The pages' Content-Security-Policy allows no inline style or script:
    // anything it blocks would show as a broken page, so none may be blocked.
    const blocked = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) blocked.push(m.text()); });
    // Any dialog is a script that ran from data: the pages run none.
    page.on('dialog', (d) => { blocked.push(`dialog: ${d.message()}`); d.dismiss(); });
    const api = (path) => page.request.get(`${base}${path}`, { headers: { Authorization: `Bearer ${process.env.KEY}` } }).then((r) => r.json());

    // Signed out, every page leads to the sign-in form.
    await page.goto(`${base}/sessions`);
    assert.match(page.url(), /\/login$/);
    await page.fill('#key', 'not-a-key');
    await page.click('input[type=submit]');
    assert.match(await page.textContent('body'), /unknown or revoked API key/);
    await page.fill('#key', process.env.KEY);
    await page.click('input[type=submit]');

    // Signed in, the overview: four charts per day, each adding up to what
    // the API says, each day a link to the sessions behind it.
    await page.waitForSelector('#overview');
    assert.equal(await page.locator('#overview .chart').count(), 4, 'sessions, steps, failed steps, cost');
    await page.goto(`${base}/?days=30`);
    const since = new Date(Date.now() - 30 * 864e5).toISOString();
    const totals = (await api(`/v1/costs?from=${since}`)).totals;
    const inAll = async (name) => (await page.locator(`.chart[data-chart="${name}"] h2`).textContent()).match(/([\d.$]+) in all/)[1];
    assert.equal(Number(await inAll('steps')), totals.steps, 'the steps chart adds up to the API total');
    assert.equal(Number(await inAll('failed steps')), totals.failed_steps, 'so does the failed steps chart');
    const dayBars = await page.locator('.chart[data-chart="steps"] .mark').count();
    assert.ok(dayBars >= 30 && dayBars <= 32, `a column per day: ${dayBars}`);
    assert.match(await page.textContent('#newest-flagged'), /support-dup-email/);
    assert.ok(await page.locator('#failing-tools .share').count() >= 1, 'the tools that fail most are listed');
    await shot(page, '0-overview');
    const failedDays = page.locator('.chart[data-chart="failed steps"] .mark');
    let redDay = -1;
    for (let i = 0; i < await failedDays.count() && redDay < 0; i++) {
      if (Number(await failedDays.nth(i).locator('rect').getAttribute('height')) > 0) redDay = i;
    }
    assert.ok(redDay >= 0, 'a day with failures has a red column');
    await failedDays.nth(redDay).click();
    await page.waitForSelector('#sessions');
    assert.match(page.url(), /status=failed/);
    const dayRows = page.locator('#sessions tr');
    assert.ok(await dayRows.count() >= 2, 'the failed sessions of that day are listed');
    for (let i = 1; i < await dayRows.count(); i++) assert.match(await dayRows.nth(i).textContent(), /failed/);

    await page.goto(`${base}/sessions`);
    await page.waitForSelector('#sessions');
    await shot(page, '1-sessions');

    // Trends above the list: every matching session (all pages) by length
    // and by cost; a sparkline per row; the longest bucket is the runaway.
    const everyone = (await api('/v1/sessions?limit=1000')).sessions;
    const matchText = async () => Number((await page.textContent('#spread .chart >> nth=0')).match(/(\d+) sessions match/)[1]);
    assert.equal(await page.locator('#spread .chart').count(), 2, 'length and cost histograms');
    assert.equal(await matchText(), everyone.length, 'the histogram counts every matching session');
    const rowCount = await page.locator('#sessions tr').count() - 1;
    assert.equal(await page.locator('#sessions svg.spark').count(), rowCount, 'a sparkline per row');
    const longest = page.locator('#spread .chart >> nth=0').locator('.mark').last();
    assert.match(await longest.locator('title').textContent(), /^>1000: 1 /, 'one session over 1,000 steps');
    await longest.click();
    await page.waitForSelector('#sessions');
    assert.match(await page.textContent('#sessions'), /pipeline-long/);
    assert.equal(await page.locator('#sessions tr').count() - 1, 1);
    await page.goto(`${base}/sessions?status=failed`);
    await page.waitForSelector('#spread');
    assert.equal(await matchText(), everyone.filter((x) => x.failed_steps > 0).length, 'the histograms follow the filters');
    await page.goto(`${base}/sessions`);
    await page.waitForSelector('#sessions');
    const all = await page.locator('#sessions tr').count() - 1;
    assert.ok(all >= 40, `demo sessions listed: ${all}`);

    // Filter: only failed sessions of one agent.
    await page.selectOption('select[name=status]', 'failed');
    await page.fill('input[name=agent]', 'research-agent');
    await page.click('#filters input[type=submit]');
    await page.waitForSelector('#sessions');
    const rows = page.locator('#sessions tr');
    const failed = await rows.count() - 1;
    assert.ok(failed >= 1 && failed < all, `failed research sessions: ${failed}`);
    for (let i = 1; i <= failed; i++) {
      assert.match(await rows.nth(i).textContent(), /failed/);
      assert.match(await rows.nth(i).textContent(), /research-agent/);
    }
    await shot(page, '2-sessions-filtered');

    // Flagged: the duplicated email, the search loop and the runaway session.
    await page.goto(`${base}/sessions`);
    await page.check('input[name=flagged]');
    await page.click('#filters input[type=submit]');
    await page.waitForSelector('#sessions');
    const flaggedRows = page.locator('#sessions tr');
    const flagged = await flaggedRows.count() - 1;
    assert.ok(flagged >= 3 && flagged < all, `flagged sessions: ${flagged}`);
    for (let i = 1; i <= flagged; i++) {
      assert.ok(await flaggedRows.nth(i).locator('.anomaly').count() >= 1, 'each flagged row has an anomaly badge');
    }
    const flaggedText = await page.textContent('#sessions');
    assert.match(flaggedText, /send_email ×5/);
    assert.match(flaggedText, /web_search ×12/);
    assert.match(flaggedText, /runaway: 2000 steps/);
    await shot(page, '2b-sessions-flagged');

    // The long session: a paged timeline, then the jump to its failure.
    await page.goto(`${base}/sessions?sort=steps`);
    await page.click('text=pipeline-long');
    await page.waitForSelector('#step-0');
    assert.equal(await page.locator('.step').count(), 100, 'a page of 100 steps, not 2,000');
    await shot(page, '3-timeline');

    // Its waterfall: 2,000 steps are too many bars, so time slices, the
    // slice holding the failure at step 1337 in red.
    assert.equal(await page.locator('#waterfall.sliced').count(), 1, 'a 2,000-step session is drawn in slices');
    const sliceCount = await page.locator('#waterfall .mark.slice-ok').count();
    assert.ok(sliceCount >= 20, `time slices drawn: ${sliceCount}`);
    const failedSlices = page.locator('#waterfall .mark.slice-failed');
    let failing = -1;
    for (let i = 0; i < await failedSlices.count(); i++) {
      const [, a, b] = (await failedSlices.nth(i).locator('title').textContent()).match(/\((\d+) to (\d+)\)/);
      if (Number(a) <= 1337 && 1337 <= Number(b)) failing = i;
    }
    assert.ok(failing >= 0, 'the slice holding step 1337 is marked failed');
    await shot(page, '3a-waterfall-slices');
    // Zooming into it draws its steps one by one, as many as the caption says.
    await failedSlices.nth(failing).click();
    await page.waitForSelector('#zoom-out');
    const inRange = Number((await page.textContent('#waterfall-caption')).match(/^(\d+) of 2000 steps/)[1]);
    const stepBars = page.locator('#waterfall .mark[data-step]');
    assert.equal(await stepBars.count(), inRange, 'one bar per step of the zoomed range');
    const failedBar = page.locator('#waterfall .mark.failed[data-step="1337"]');
    assert.equal(await failedBar.count(), 1, 'step 1337 is a failed bar');
    await shot(page, '3b-waterfall-zoomed');
    // A bar leads to its step's card.
    await failedBar.click();
    await page.waitForSelector('#step-1337');
    assert.match(page.url(), /#step-1337$/);
    assert.match(await page.textContent('#step-1337'), /constraint violation/);

    // A short session: every step a bar, the failed ones red, the repeated
    // email outlined, checked against the API's own numbers.
    const flaggedList = await api('/v1/sessions?flagged=true&limit=100');
    const emails = flaggedList.sessions.find((x) => JSON.stringify(x.anomalies).includes('send_email'));
    assert.ok(emails, 'the demo has a session that sent one email five times');
    await page.goto(`${base}/sessions/${encodeURIComponent(emails.session_id)}`);
    await page.waitForSelector('#waterfall');
    assert.equal(await page.locator('#waterfall.sliced').count(), 0);
    assert.equal(await page.locator('#waterfall .mark[data-step]').count(), emails.steps, 'one bar per step');
    assert.equal(await page.locator('#waterfall .mark.failed').count(), emails.failed_steps, 'one red bar per failed step');
    assert.ok(await page.locator('#waterfall .mark.repeated').count() >= 5, 'the five identical emails are outlined');
    assert.match(await page.textContent('#waterfall .lane >> nth=0'), /\S/);
    await shot(page, '3c-waterfall-repeated');

    await page.goto(`${base}/sessions?sort=steps`);
    await page.click('text=pipeline-long');
    await page.waitForSelector('#step-0');
    await page.click('#first-failure');
    await page.waitForSelector('#integrity');
    assert.match(await page.textContent('h1'), /Why did the agent do this\?/);
    assert.match(await page.textContent('body'), /step 1337/);
    assert.match(await page.textContent('body'), /constraint violation/);
    assert.match(await page.textContent('#integrity'), /verified/);
    await shot(page, '4-decision');

    // Engineers: has this failure happened before? From the decision page...
    await page.click('a.find-similar');
    await page.waitForSelector('#results');
    const similar = page.locator('#results tr.result');
    const found = await similar.count();
    assert.ok(found >= 1, `similar failures found: ${found}`);
    for (let i = 0; i < found; i++) {
      assert.match(await similar.nth(i).textContent(), /failed|error|timeout/i);
    }
    await shot(page, '6-similar');
    // ...and by free text, each result linking to its step.
    await page.goto(`${base}/search`);
    await page.fill('input[name=q]', 'the credit bureau did not answer in time');
    await page.click('#search-form input[type=submit]');
    await page.waitForSelector('#results');
    const first = similar.first().locator('a');
    assert.match(await first.getAttribute('href'), /^\/sessions\/.+\/steps\/\d+$/);
    await first.click();
    await page.waitForSelector('#integrity');
    await shot(page, '7-similar-text');

    // Finance: the cost dashboard draws cost per day stacked by model.
    await page.click('text=Costs');
    await page.waitForSelector('#cost-chart');
    const bars = await page.locator('#cost-chart rect').count();
    assert.ok(bars >= 7, `bars in the chart: ${bars}`);
    assert.match(await page.textContent('body'), /gpt-4o-mini/);
    const download = await page.request.get(`${base}/costs/download?format=csv&days=30`);
    assert.equal(download.status(), 200);
    assert.match(await download.text(), /^day,model,steps/);
    await shot(page, '5-costs');
    assert.deepEqual(blocked, [], 'nothing on any page was blocked by the Content-Security-Policy');

    // Signing out ends the session: the pages lead to the sign-in form again.
    await page.click('text=Sign out');
    await page.waitForSelector('#key');
    await page.goto(`${base}/sessions`);
    assert.match(page.url(), /\/login$/);
    console.log(`browser: ${all} sessions, ${failed} failed research sessions, ${flagged} flagged, decision page verified, ${bars} cost bars`);
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
