// Formulas: pymdownx.arithmatex (generic mode) wraps them in .arithmatex elements as \( \) and \[ \].
// MathJax is served by this site (javascripts/mathjax/tex-svg.js, copied at build time from the
// django-static-mathjax package of the docs extra), so nothing is fetched from a CDN; it is
// loaded only on pages that have a formula.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
  svg: { fontCache: "global" },
};

(function () {
  var self = document.currentScript;
  if (!self || !document.querySelector(".arithmatex")) {
    return;
  }
  var script = document.createElement("script");
  script.src = new URL("mathjax/tex-svg.js", self.src).href;
  script.async = true;
  document.head.appendChild(script);
})();
