// The search box when the built site is opened from disk (file://).
//
// Material's search runs in a Web Worker, and browsers refuse to start a worker
// from a file:// page, so the search box would hide itself. Under file:// only,
// this replaces `Worker` with a stand-in of the same interface: the worker's
// script runs in a hidden same-origin iframe, and messages pass both ways as
// events (structured clones, as with a real worker). The search index is read
// from search/search_index.js, which docs/_ext/hooks.py writes after the build.
// Loaded before Material's bundle (extra.polyfills in mkdocs.yml); nothing is
// fetched from elsewhere. On http(s) it does nothing.
(function () {
  "use strict";
  if (location.protocol !== "file:" || typeof EventTarget !== "function") {
    return;
  }

  class FileWorker extends EventTarget {
    constructor(url) {
      super();
      this.onmessage = null;
      this.onerror = null;
      this._pending = [];
      this._loaded = false;
      const frame = document.createElement("iframe");
      frame.hidden = true;
      frame.setAttribute("aria-hidden", "true");
      frame.setAttribute("tabindex", "-1");
      (document.body || document.documentElement).appendChild(frame);
      this._frame = frame;
      const scope = frame.contentWindow;
      const page = this;
      // what the worker's script calls to answer: an event on this object, later
      scope.postMessage = function (data) {
        const copy = structuredClone(data);
        setTimeout(function () {
          page._emit(new MessageEvent("message", { data: copy }), page.onmessage);
        }, 0);
      };
      scope.importScripts = function () {
        throw new Error("importScripts is not available to a worker started from file://");
      };
      const script = scope.document.createElement("script");
      script.src = new URL(url, document.baseURI).href;
      script.onload = function () {
        page._loaded = true;
        page._pending.splice(0).forEach(function (data) {
          page._deliver(data);
        });
      };
      script.onerror = function () {
        page._emit(new Event("error"), page.onerror);
      };
      scope.document.head.appendChild(script);
    }

    _emit(event, handler) {
      if (typeof handler === "function") {
        handler.call(this, event);
      }
      this.dispatchEvent(event);
    }

    _deliver(data) {
      const scope = this._frame.contentWindow;
      scope.dispatchEvent(new scope.MessageEvent("message", { data: structuredClone(data) }));
    }

    postMessage(data) {
      if (this._loaded) {
        this._deliver(data);
      } else {
        this._pending.push(data);
      }
    }

    terminate() {
      this._frame.remove();
    }
  }

  window.Worker = FileWorker;
})();
