"""A hand-written news page with realistic boilerplate, and the body text it is known to carry."""

from __future__ import annotations

from typing import Final

TITLE: Final = "Night ferry between Lisbon and Rotterdam to resume in spring"
AUTHOR: Final = "Inês Carvalho"
CANONICAL_URL: Final = "https://www.Tagus-Daily.example/travel/night-ferry-returns?utm_source=rss#comments"
READ_TITLE: Final = "Rotterdam switches on shore power for cruise ships"
READ_URL: Final = "https://tagus-daily.example/news/rotterdam-shore-power"
INLINE_ANCHOR: Final = "Atlantic Ports Council"
INLINE_URL: Final = "https://tagus-daily.example/topics/atlantic-ports-council"

# The article's body as a reader sees it: paragraphs and a subheading, without the headline.
BODY_PARAGRAPHS: Final = (
    "A night ferry between Lisbon and Rotterdam will resume in April after an absence of more "
    "than a decade, the operator said on Thursday, betting that travellers worried about flying "
    "will pay for a cabin and a slower journey.",
    "The service will run twice a week with a converted vessel that can connect to shore power "
    "in both ports, meeting the standards agreed by the Atlantic Ports Council this autumn. The "
    "crossing will take about 40 hours, with a stop in the Bay of Biscay only in bad weather.",
    "Tickets will start at 190 euros for a shared cabin. Cars and bicycles can be carried, and "
    "the operator said it expected families and retired travellers to make up most of its "
    "passengers in the first season.",
    "A long road back",
    "The route was abandoned in 2012 when fuel prices rose and budget airlines took most of its "
    "customers. Portuguese Sea Minister Rafael Quintas, who has championed the return, said "
    "cleaner ships had changed the economics. “A ferry that does not burn fuel in port is a "
    "ferry that ports want to welcome,” he said.",
    "Dutch Infrastructure Minister Ilse Vandermeer said Rotterdam would give the ferry a berth "
    "close to the city centre, and that rail connections to Amsterdam and Antwerp would be "
    "timed to meet its arrivals.",
    "Travel agents were cautious. Several said that demand for overnight sea travel had grown "
    "in northern Europe but that the price would need to fall for the route to last beyond its "
    "first two years.",
)
DATE_ISO: Final = "2024-11-14T18:45:00+01:00"

# Text from the page around the article, which must not reach the body.
BOILERPLATE: Final = (
    "Subscribe",
    "cookies",
    "Most read",
    "Weather",
    "All rights reserved",
    "newsletter",
    "Comments",
    "Finally!",
    "custard tarts",
)


def body_html() -> str:
    paragraphs = list(BODY_PARAGRAPHS)
    paragraphs[1] = paragraphs[1].replace(
        INLINE_ANCHOR,
        f'<a href="/topics/atlantic-ports-council" onclick="track(\'topic\')">{INLINE_ANCHOR}</a>',
    )
    html = []
    for para in paragraphs:
        if para == "A long road back":
            html.append(f"<h2>{para}</h2>")
        else:
            html.append(f"<p>{para}</p>")
    # A script in the middle of the article and an inline READ link, as CMSs emit them.
    html.insert(3, "<script>window.adSlot('mid-article'); alert('xss');</script>")
    html.append(f'<p>READ: <a href="/news/rotterdam-shore-power">{READ_TITLE}</a></p>')
    return "\n      ".join(html)


def news_page() -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{TITLE} | Tagus Daily</title>
  <meta name="author" content="{AUTHOR}">
  <meta property="og:title" content="{TITLE}">
  <meta property="og:site_name" content="Tagus Daily">
  <meta property="article:published_time" content="{DATE_ISO}">
  <link rel="canonical" href="{CANONICAL_URL}">
  <script>var dataLayer = [];</script>
  <style>.promo {{ color: red; }}</style>
</head>
<body onload="init()">
  <div id="cookie-banner">
    We use cookies to improve your experience. <button onclick="accept()">Accept all</button>
  </div>
  <header>
    <a href="/" class="logo">Tagus Daily</a>
    <nav>
      <ul>
        <li><a href="/news">News</a></li><li><a href="/travel">Travel</a></li>
        <li><a href="/sport">Sport</a></li><li><a href="/weather">Weather</a></li>
      </ul>
    </nav>
  </header>
  <div class="promo" onclick="openPaywall()">Subscribe today: three months for one euro.</div>
  <main>
    <article>
      <h1>{TITLE}</h1>
      <p class="byline">By {AUTHOR}</p>
      {body_html()}
    </article>
    <section class="newsletter">
      <h3>Get the morning newsletter</h3>
      <form><input type="email" placeholder="Your email"><button>Sign up</button></form>
    </section>
    <section id="comments">
      <h3>Comments</h3>
      <div class="comment"><p>Finally! I took this ferry as a student and loved it.</p></div>
      <div class="comment"><p>Forty hours? I will keep flying, thanks.</p></div>
    </section>
  </main>
  <aside>
    <h3>Most read</h3>
    <ol>
      <li><a href="/news/storm">Storm warning issued for the weekend</a></li>
      <li><a href="/sport/derby">Derby ends in a goalless draw</a></li>
      <li><a href="/food/pastel">Where to find the best custard tarts</a></li>
    </ol>
  </aside>
  <footer>
    <p>© 2024 Tagus Daily. All rights reserved.</p>
    <a href="/privacy">Privacy</a> · <a href="/terms">Terms</a> · <a href="/contact">Contact</a>
  </footer>
  <script>document.body.addEventListener("click", track);</script>
</body>
</html>
"""
