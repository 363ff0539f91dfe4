// Live parts of the newsroom console. Pages work without it: this only adds what arrives later.
"use strict";
(function () {
  function fromHtml(html) {
    // The server renders and escapes every item; a template keeps scripts in it inert.
    const tpl = document.createElement("template");
    tpl.innerHTML = html.trim();
    return tpl.content.firstElementChild;
  }

  const feed = document.getElementById("feed");
  if (feed && feed.dataset.events && window.EventSource) {
    const status = document.getElementById("live-status");
    let arrived = 0;
    const source = new EventSource(feed.dataset.events);
    source.addEventListener("item", function (message) {
      const item = fromHtml(message.data);
      if (!item || !item.dataset.articleId) return;
      const id = item.dataset.articleId;
      for (const old of feed.querySelectorAll("article[data-article-id]")) {
        if (old.dataset.articleId === id) old.remove();
      }
      item.classList.add("fresh");
      feed.prepend(item);
      const empty = document.querySelector(".empty");
      if (empty) empty.remove();
      arrived += 1;
      if (status) status.textContent = "Live: " + arrived + " new since this page opened.";
    });
    source.addEventListener("error", function () {
      feed.dataset.live = "reconnecting";
      if (status) status.textContent = "Live updates paused; reconnecting…";
    });
    source.addEventListener("open", function () {
      feed.dataset.live = "open";
      if (status && arrived === 0) status.textContent = "Live: new articles appear at the top.";
    });
  }

  const health = document.getElementById("health");
  if (health && health.dataset.refresh && window.fetch) {
    // Refresh the charts and the count only: the dead-letter table stays still under the pointer.
    window.setInterval(async function () {
      try {
        const response = await fetch(health.dataset.refresh, { credentials: "same-origin" });
        if (!response.ok) return;
        const doc = new DOMParser().parseFromString(await response.text(), "text/html");
        for (const id of ["charts", "dlq-total"]) {
          const fresh = doc.getElementById(id);
          const here = document.getElementById(id);
          if (fresh && here) here.replaceWith(document.importNode(fresh, true));
        }
      } catch (_) {
        /* offline for a moment: the next tick retries */
      }
    }, 5000);
  }
})();
