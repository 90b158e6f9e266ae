(function () {
  var uid = "UID", atlas = "ATLAS", tile = TILE, cols = COLS, zoom = ZOOM;
  var note = document.getElementById("clkit-thumbs-" + uid);
  function attach(gd) {
    var tip = document.createElement("div");
    tip.style.cssText = "position:absolute;display:none;pointer-events:none;z-index:1000;background:#fff;" +
      "border:1px solid #999;border-radius:3px;padding:3px;font:15px sans-serif;text-align:center";
    var img = document.createElement("div");
    img.style.cssText = "width:" + tile * zoom + "px;height:" + tile * zoom + "px;image-rendering:pixelated;" +
      "background-image:url(" + atlas + ");background-size:" + cols * tile * zoom + "px auto";
    var caption = document.createElement("div");
    tip.appendChild(img);
    tip.appendChild(caption);
    if (getComputedStyle(gd).position === "static") gd.style.position = "relative";
    gd.appendChild(tip);
    gd.on("plotly_hover", function (e) {
      var p = e.points[0], i = Array.isArray(p.customdata) ? p.customdata[0] : p.customdata;
      if (i === undefined || i === null) return;
      img.style.backgroundPosition = -(i % cols) * tile * zoom + "px " + -Math.floor(i / cols) * tile * zoom + "px";
      caption.textContent = p.data.name + " · " + i;
      var box = gd.getBoundingClientRect(), w = tile * zoom + 10;
      var x = e.event.clientX - box.left + 14, y = e.event.clientY - box.top + 14;
      if (x + w > box.width) x -= w + 28;
      tip.style.left = x + "px";
      tip.style.top = y + "px";
      tip.style.display = "block";
    });
    gd.on("plotly_unhover", function () { tip.style.display = "none"; });
    note.textContent = "hover over a point to see its image";
  }
  var tries = 0, timer = setInterval(function () {
    var plots = document.querySelectorAll(".js-plotly-plot");
    for (var k = 0; k < plots.length; k++) {
      var gd = plots[k], meta = gd.layout && gd.layout.meta;
      if (meta && meta.clkit_thumbnails === uid && typeof gd.on === "function") {
        clearInterval(timer);
        attach(gd);
        return;
      }
    }
    if (++tries > 300) clearInterval(timer);
  }, 100);
})();
