// The Parley browser demo: two users (or more) side by side, each pane its own ParleyClient.
// Plain JS, no build step: the gateway serves these files and bundles the SDK as parley-client.js.
//
// /demo shows alice and bob; /demo?users=carol,dave picks the users (one page per user works too:
// open /demo?users=alice and /demo?users=bob in two windows).
//
// For tests and the curious, window.ParleyDemo = {
//   panes: Map<userId, Pane>  — pane.client (the ParleyClient), pane.messages(conversationId)
//                               (in order: { id, tempId, seq, senderId, content, status }),
//                               pane.conversations(), pane.open(conversationId), pane.send(id, text),
//                               pane.received (message ids as message.new brought them),
//                               pane.events (the connection log);
//   ready: Promise            — settles once the first panes are connected with their lists loaded;
//   addPane(userId): Promise<Pane>
// }
import { Pane } from './pane.js';

const MAX_PANES = 6;
const status = document.getElementById('status');
const panes = new Map();

function usersFromQuery() {
  const asked = new URLSearchParams(location.search).get('users');
  const users = (asked ?? 'alice,bob').split(',').map((u) => u.trim()).filter((u) => u && u.length <= 128);
  return [...new Set(users)].slice(0, MAX_PANES);
}

async function addPane(userId) {
  if (panes.has(userId)) return panes.get(userId);
  if (panes.size >= MAX_PANES) throw new Error(`at most ${MAX_PANES} panes`);
  const root = document.getElementById('pane-template').content.firstElementChild.cloneNode(true);
  document.getElementById('panes').append(root);
  const pane = new Pane(userId, root);
  panes.set(userId, pane);
  try {
    await pane.start();
  } catch (err) {
    pane.log(`could not start: ${err.message}`);
    throw err;
  }
  return pane;
}

document.getElementById('add-pane').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = e.target.elements.userId;
  const userId = input.value.trim();
  input.value = '';
  if (userId) addPane(userId).catch((err) => (status.textContent = `Could not add ${userId}: ${err.message}`));
});

const ready = Promise.all(usersFromQuery().map(addPane)).then(
  () => {
    status.textContent = 'Each pane is a separate client. Start a chat, then drop a connection: nothing is lost.';
    status.dataset.loaded = 'true';
  },
  (err) => {
    status.textContent = `The demo could not start: ${err.message}`;
    throw err;
  },
);
ready.catch(() => undefined); // shown on the page; a test awaiting it still sees the rejection
window.ParleyDemo = { panes, ready, addPane };
