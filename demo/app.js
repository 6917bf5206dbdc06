// Placeholder demo page: loads the SDK bundle the gateway builds (parley-client.js), gets a
// development token for each pane's user from POST /demo/token, and says how far it got. The
// real two-user chat is written against docs of the ParleyClient API (issue 19).
import * as parley from './parley-client.js';

const status = document.getElementById('status');

async function devToken(userId) {
  const res = await fetch('/demo/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  if (!res.ok) return undefined;
  const body = await res.json();
  return typeof body.token === 'string' ? body.token : undefined;
}

async function main() {
  const exported = Object.keys(parley).sort();
  window.ParleyDemo = { sdk: parley, exported };
  status.textContent = `Client loaded (${exported.length} exports${'ParleyClient' in parley ? ', ParleyClient ready' : ''}).`;
  status.dataset.loaded = 'true';
  for (const pane of document.querySelectorAll('.pane')) {
    const userId = pane.dataset.user;
    const token = await devToken(userId);
    pane.querySelector('.pane-status').textContent = token
      ? `${userId}: development token received`
      : `${userId}: this server mints no tokens (it does not use the development secret)`;
    pane.dataset.token = token ? 'yes' : 'no';
  }
  window.ParleyDemo.ready = true;
}

main().catch((err) => {
  status.textContent = `The demo failed: ${err.message}`;
  console.error(err);
});
