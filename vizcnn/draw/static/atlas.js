// The activation atlas page: a zoomable grid of cells (buttons, +/- keys); hovering or focusing
// a cell shows its count and main class. Data from the JSON block; DOM built with textContent.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("at-data").textContent);
  var grid = document.getElementById("at-grid");
  var info = document.getElementById("at-info");
  var zoomLabel = document.getElementById("at-zoom-label");
  var sizes = [16, 24, 32, 48, 64, 96, 128, 192];
  var zoom = 3;

  function describe(cell) {
    info.textContent = "row " + cell.row + ", column " + cell.col + ": " + cell.count + " points, mostly class " +
      cell.label + " (" + Math.round(100 * cell.share) + "%)";
    info.setAttribute("data-row", cell.row);
    info.setAttribute("data-col", cell.col);
  }

  function setZoom(z) {
    zoom = Math.max(0, Math.min(sizes.length - 1, z));
    grid.style.setProperty("--cell", sizes[zoom] + "px");
    zoomLabel.textContent = sizes[zoom] + " px per cell";
  }

  grid.style.gridTemplateColumns = "repeat(" + data.grid + ", var(--cell))";
  grid.style.gridTemplateRows = "repeat(" + data.grid + ", var(--cell))";
  data.cells.forEach(function (cell) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "at-cell";
    button.style.gridRow = String(cell.row + 1);
    button.style.gridColumn = String(cell.col + 1);
    button.setAttribute("data-row", cell.row);
    button.setAttribute("data-col", cell.col);
    button.setAttribute("aria-label", cell.count + " points, mostly class " + cell.label);
    if (cell.src) {
      var img = document.createElement("img");
      img.src = cell.src;
      img.alt = "";
      button.appendChild(img);
    } else {
      button.textContent = cell.label;
    }
    button.addEventListener("mouseenter", function () { describe(cell); });
    button.addEventListener("focus", function () { describe(cell); });
    grid.appendChild(button);
  });
  document.getElementById("at-in").addEventListener("click", function () { setZoom(zoom + 1); });
  document.getElementById("at-out").addEventListener("click", function () { setZoom(zoom - 1); });
  document.addEventListener("keydown", function (event) {
    if (event.key === "+" || event.key === "=") setZoom(zoom + 1);
    else if (event.key === "-") setZoom(zoom - 1);
  });
  setZoom(zoom);
})();
