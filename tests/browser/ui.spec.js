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

    // Signed out, every page leads to the sign-in form.
    await page.goto(`${base}/sessions`);
    assert.match(page.url(), /\/login$/);
    await page.fill('#key', 'not-a-key');
    await page.click('input[type=submit]');
    assert.match(await page.textContent('body'), /unknown or revoked API key/);
    await page.fill('#key', process.env.KEY);
    await page.click('input[type=submit]');
    await page.waitForSelector('#sessions');
    await shot(page, '1-sessions');
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
