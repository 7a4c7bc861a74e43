from tests.browser.conftest import sign_in
from tests.browser.test_content_security_policy import _seed


def test_debug(page, live_server, live_world):
    rows = _seed(live_server, live_world)
    sign_in(page, live_server, live_world.admin)
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(f"{live_server.url}/profile/preferences")
    page.wait_for_timeout(800)
    print("DEBUG", page.evaluate("() => document.querySelector('.preference-grid').parentElement.outerHTML.slice(0, 300)"), page.evaluate("""() => {
      const cw = document.documentElement.clientWidth;
      const out = [];
      for (const e of document.querySelectorAll("body *")) {
        const r = e.getBoundingClientRect();
        if (r.right > cw + 1 || e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible')
          out.push(e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(r.right) + ' sw=' + e.scrollWidth + ' cw=' + e.clientWidth);
      }
      return [document.documentElement.scrollWidth, cw, out.slice(0, 30)];
    }"""))
    page.screenshot(path="/work/wt/shots/responsive/debug.png", full_page=True)
    assert 0
