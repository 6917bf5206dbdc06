// The one way the demo makes elements: text only ever goes in through textContent, so nothing a
// user typed (a message, a title, a user id) is ever parsed as HTML.
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
}
