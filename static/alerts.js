// The alert banner: the alerts raised now (/api/alerts, README), listed as plain text, hidden when none.
import { credentials } from "./credentials.js";

// Polled rather than pushed: alerts change at most every 5 s (app/alert_watch.py), and the live feed's
// message protocol stays as it is. Every 10 s, longer than the server's 5 s keep-alive: between polls a
// viewer holds only its websocket, and 20,000 viewers ask 2,000 times a second, not 6,700.
const POLL_MS = 10000;

export class AlertBanner {
  // params: the page's query (its token or merchant link); merchant: the merchant's view, or null.
  constructor(node, params, merchant) {
    this.node = node;
    this.list = node.querySelector("ul");
    this.url = "/api/alerts?" + credentials(params, merchant).toString();
    this.asking = false;
  }

  start() {
    this.poll();
    setInterval(() => this.poll(), POLL_MS);
  }

  async poll() {
    if (this.asking) return; // a slow answer is not asked for twice
    this.asking = true;
    let body = null;
    try {
      const answer = await fetch(this.url);
      body = answer.ok ? await answer.json() : null;
    } catch (err) {
      body = null;
    } finally {
      this.asking = false;
    }
    // No answer (the app restarting): keep what is shown; the connection badge says the rest.
    if (body !== null && Array.isArray(body.alerts)) this.show(body.alerts);
  }

  show(raised) {
    const items = raised.filter((a) => a && typeof a.kind === "string").map((a) => {
      const li = document.createElement("li");
      li.dataset.kind = a.kind;
      li.dataset.subject = String(a.subject);
      const kind = document.createElement("strong");
      kind.textContent = a.kind.replace("_", " "); // textContent: a hostile merchant id shows as text
      li.append(kind, " · " + String(a.subject) + " · " + String(a.detail));
      return li;
    });
    this.list.replaceChildren(...items);
    this.node.dataset.count = String(items.length);
    this.node.hidden = items.length === 0;
  }
}
