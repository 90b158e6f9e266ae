(function () {
  var uid = "UID", atlas = "ATLAS", tile = TILE, cols = COLS, zoom = ZOOM;
  var note = document.getElementById("clkit-thumbs-" + uid);
  // Space between the pointer and the thumbnail, and between the thumbnail and the plot's edge (pixels).
  var gap = 14, margin = 2;

  // plotly's hover labels, as boxes relative to the plot's corner (none where the page has no label layer).
  function labelBoxes(gd, box) {
    if (typeof gd.querySelectorAll !== "function") return [];
    var found = [], labels = gd.querySelectorAll(".hoverlayer .hovertext");
    for (var k = 0; k < labels.length; k++) {
      var r = labels[k].getBoundingClientRect();
      if (r.width > 0 && r.height > 0) {
        found.push({ left: r.left - box.left, top: r.top - box.top, right: r.right - box.left, bottom: r.bottom - box.top });
      }
    }
    return found;
  }

  function overlaps(a, b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  }

  // Where the thumbnail goes for a pointer at (x, y) in a plot of the box's size: the first of the four corners
  // around the pointer that keeps it whole inside the plot and off plotly's label; else the first that keeps it
  // whole; else pushed inside the plot.
  function place(x, y, w, h, box, labels) {
    var corners = [[x + gap, y + gap], [x - gap - w, y + gap], [x + gap, y - gap - h], [x - gap - w, y - gap - h]];
    var inside = [], k;
    for (k = 0; k < corners.length; k++) {
      var c = corners[k], r = { left: c[0], top: c[1], right: c[0] + w, bottom: c[1] + h };
      if (r.left >= margin && r.top >= margin && r.right <= box.width - margin && r.bottom <= box.height - margin) {
        inside.push(c);
        if (!labels.some(function (l) { return overlaps(r, l); })) return c;
      }
    }
    if (inside.length) return inside[0];
    return [Math.max(margin, Math.min(x + gap, box.width - w - margin)),
            Math.max(margin, Math.min(y + gap, box.height - h - margin))];
  }

  function attach(gd) {
    var tip = document.createElement("div");
    tip.className = "clkit-thumbnail";
    tip.style.cssText = "position:absolute;display:none;pointer-events:none;z-index:1000;background:#fff;" +
      "border:1px solid #999;border-radius:3px;padding:3px;font:15px sans-serif;text-align:center;" +
      "box-sizing:border-box";
    var img = document.createElement("div");
    img.style.cssText = "width:" + tile * zoom + "px;height:" + tile * zoom + "px;image-rendering:pixelated;" +
      "background-image:url(" + atlas + ");background-size:" + cols * tile * zoom + "px auto";
    var caption = document.createElement("div");
    tip.appendChild(img);
    tip.appendChild(caption);
    if (getComputedStyle(gd).position === "static") gd.style.position = "relative";
    gd.appendChild(tip);
    var pointer = null;
    // Put the thumbnail beside the pointer, clear of the hover labels plotly has drawn so far.
    function reposition() {
      if (!pointer || tip.style.display === "none") return;
      // Its size once shown; where the page lays nothing out, the tile plus padding and a caption line.
      var w = tip.offsetWidth || tile * zoom + 8, h = tip.offsetHeight || tile * zoom + 30;
      var box = gd.getBoundingClientRect();
      var at = place(pointer[0] - box.left, pointer[1] - box.top, w, h, box, labelBoxes(gd, box));
      tip.style.left = at[0] + "px";
      tip.style.top = at[1] + "px";
    }
    gd.on("plotly_hover", function (e) {
      var p = e.points[0], i = Array.isArray(p.customdata) ? p.customdata[0] : p.customdata;
      if (i === undefined || i === null || !e.event) return;
      img.style.backgroundPosition = -(i % cols) * tile * zoom + "px " + -Math.floor(i / cols) * tile * zoom + "px";
      caption.textContent = p.data.name + " · " + i;
      tip.style.display = "block";
      pointer = [e.event.clientX, e.event.clientY];
      reposition();
      // plotly may draw this point's label after telling us: look again once the page has drawn it.
      if (typeof requestAnimationFrame === "function") {
        requestAnimationFrame(function () { requestAnimationFrame(reposition); });
      }
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
