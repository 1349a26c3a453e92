// The interactive semantic dictionary: pick an image, move over it (pointer or arrow keys),
// see the top channels and neuron groups at that position. Data comes from the JSON block;
// every node is built with textContent and attributes, never innerHTML.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dx-data").textContent);
  var pick = document.getElementById("dx-pick");
  var grid = document.getElementById("dx-grid");
  var base = document.getElementById("dx-image");
  var cursor = document.getElementById("dx-cursor");
  var heats = document.getElementById("dx-heats");
  var bar = document.getElementById("dx-bar");
  var where = document.getElementById("dx-where");
  var channels = document.getElementById("dx-channels");
  var groups = document.getElementById("dx-groups");
  var state = { image: 0, y: 0, x: 0, heat: "none" };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function side(value, vmax) {
    return Math.round(36 + 84 * Math.sqrt(Math.max(value, 0) / (vmax || 1)));
  }

  function card(picture, size, caption, href, attrs) {
    var box = el(href ? "a" : "div", attrs);
    box.className = "dx-card";
    if (href) box.setAttribute("href", href);
    if (picture) {
      box.appendChild(el("img", { src: picture, width: size, height: size, alt: caption, "class": "pixelated" }));
    } else {
      var blank = el("div", { "class": "dx-blank" });
      blank.style.width = blank.style.height = size + "px";
      box.appendChild(blank);
    }
    box.appendChild(el("div", {}, caption));
    return box;
  }

  function drawHeats(img) {
    heats.replaceChildren(el("legend", {}, "heat map"));
    var options = [{ key: "none", label: "none (the image)" }].concat(img.heats);
    if (!options.some(function (o) { return o.key === state.heat; })) state.heat = "none";
    options.forEach(function (o) {
      var label = el("label");
      var input = el("input", { type: "radio", name: "dx-heat", value: o.key });
      input.checked = o.key === state.heat;
      input.addEventListener("change", function () { state.heat = o.key; show(); });
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + o.label));
      heats.appendChild(label);
    });
  }

  function show() {
    var img = data.images[state.image];
    var heat = img.heats.filter(function (o) { return o.key === state.heat; })[0];
    base.setAttribute("src", heat ? heat.src : img.image);
    bar.hidden = !heat;
    if (heat) bar.setAttribute("src", heat.bar);
    base.setAttribute("data-heat", state.heat);
    var p = state.y * img.w + state.x;
    cursor.style.left = (100 * state.x / img.w) + "%";
    cursor.style.top = (100 * state.y / img.h) + "%";
    cursor.style.width = (100 / img.w) + "%";
    cursor.style.height = (100 / img.h) + "%";
    grid.setAttribute("aria-label", "position y " + state.y + ", x " + state.x + " of " + img.h + "x" + img.w + "; arrow keys move");
    var parts = ["position (y " + state.y + ", x " + state.x + ")"];
    img.attr.labels.forEach(function (label, i) {
      parts.push("attribution to " + label + ": " + img.attr.values[i][p].toFixed(4));
    });
    where.textContent = parts.join(" · ");
    channels.replaceChildren();
    channels.setAttribute("data-position", state.y + "," + state.x);
    img.top[p].forEach(function (cv) {
      var c = String(cv[0]);
      channels.appendChild(card(data.features[c], side(cv[1], img.vmax), "channel " + c + " · " + cv[1].toFixed(3),
        data.hrefs[c], { "data-channel": c, "data-value": cv[1] }));
    });
    groups.replaceChildren();
    var g = img.groups;
    if (!g.at[p].length) groups.appendChild(el("p", { "class": "value" }, "no group is active here"));
    g.at[p].forEach(function (gv) {
      var k = gv[0];
      var item = card(g.features[k], side(gv[1], g.vmax), "group " + k + " · " + gv[1].toFixed(3) +
        " (channels " + g.channels[k].join(", ") + ")", null, { "data-group": k, "data-value": gv[1] });
      item.appendChild(el("img", { src: g.masks[k], width: 64, height: 64, alt: "where group " + k + " is active", "class": "pixelated" }));
      groups.appendChild(item);
    });
  }

  function choose(i) {
    state.image = i;
    var img = data.images[i];
    state.y = Math.min(state.y, img.h - 1);
    state.x = Math.min(state.x, img.w - 1);
    drawHeats(img);
    show();
  }

  function moveTo(event) {
    var img = data.images[state.image];
    var r = grid.getBoundingClientRect();
    var x = Math.floor((event.clientX - r.left) / r.width * img.w);
    var y = Math.floor((event.clientY - r.top) / r.height * img.h);
    if (x < 0 || y < 0 || x >= img.w || y >= img.h || (x === state.x && y === state.y)) return;
    state.x = x; state.y = y;
    show();
  }

  var keys = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
  grid.addEventListener("keydown", function (event) {
    var step = keys[event.key];
    if (!step) return;
    event.preventDefault();
    var img = data.images[state.image];
    state.y = Math.max(0, Math.min(img.h - 1, state.y + step[0]));
    state.x = Math.max(0, Math.min(img.w - 1, state.x + step[1]));
    show();
  });
  grid.addEventListener("mousemove", moveTo);
  grid.addEventListener("click", moveTo);
  pick.addEventListener("change", function () { choose(Number(pick.value)); });
  choose(0);
})();
