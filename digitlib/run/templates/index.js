// reports/index.html's only script, inline and allowed by the page's policy by its SHA-256 (digitlib/run/pages.py):
// sorting by a column and filtering rows, from file:// with nothing fetched. It never builds HTML from text:
// what a run folder holds is read and written as textContent only. Without it the page is the same table.
"use strict";
(function () {
  const table = document.getElementById("runs");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows).filter((row) => !row.classList.contains("empty"));
  rows.forEach((row, position) => { row.dataset.position = String(position); });

  // A cell's sort key: its data-value when it has one (a number, a date), else its text.
  function key(row, column, numeric) {
    const cell = row.cells[column];
    const text = cell === undefined ? "" : (cell.dataset.value ?? cell.textContent).trim();
    if (!numeric) return text;
    return text === "" ? NaN : Number(text);
  }

  function compare(a, b, numeric) {
    if (numeric) {
      if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) - Number.isNaN(b);  // blanks last
      return a - b;
    }
    if (a === "" || b === "") return (a === "") - (b === "");
    return a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" });
  }

  function sortBy(header, column) {
    const numeric = header.dataset.type === "number";
    const descending = header.getAttribute("aria-sort") === "ascending";
    const sign = descending ? -1 : 1;
    const keyed = rows.map((row) => [key(row, column, numeric), Number(row.dataset.position), row]);
    keyed.sort((a, b) => {
      const blankA = numeric ? Number.isNaN(a[0]) : a[0] === "";
      const blankB = numeric ? Number.isNaN(b[0]) : b[0] === "";
      if (blankA || blankB) return (blankA - blankB) || a[1] - b[1];  // blanks last, either way
      return sign * compare(a[0], b[0], numeric) || a[1] - b[1];
    });
    keyed.forEach((item) => body.appendChild(item[2]));
    for (const other of table.tHead.rows[0].cells) other.removeAttribute("aria-sort");
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  Array.from(table.tHead.rows[0].cells).forEach((header, column) => {
    const button = document.createElement("button");
    button.type = "button";
    button.title = "sort by this column; again to reverse";
    button.append(...header.childNodes);
    header.appendChild(button);
    button.addEventListener("click", () => sortBy(header, column));
  });

  const search = document.getElementById("filter");
  const field = document.getElementById("filter-text");
  const shown = document.getElementById("shown");
  function filter() {
    const terms = field.value.toLowerCase().split(/\s+/).filter(Boolean);
    let count = 0;
    for (const row of rows) {
      const text = row.textContent.toLowerCase();
      row.hidden = !terms.every((term) => text.includes(term));
      count += row.hidden ? 0 : 1;
    }
    shown.textContent = count + " of " + rows.length + " rows shown";
  }
  field.addEventListener("input", filter);
  filter();
  search.hidden = false;
})();
