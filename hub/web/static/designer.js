/* Designer dashboard: declare that one of my designs remixes another (the hub checks the licences). */
"use strict";
(() => {
  for (const form of document.querySelectorAll("form.declare-remix")) {
    form.addEventListener("submit", async event => {
      event.preventDefault();
      const out = form.querySelector(".result");
      try {
        await cofab.api(`/api/v1/designs/${encodeURIComponent(form.dataset.design)}`, {method: "PATCH",
          body: {add_remix_of: [form.parent.value]}});
        out.textContent = "Declared.";
        out.classList.remove("error");
      } catch (err) {
        out.textContent = err.message;
        out.classList.add("error");
      }
    });
  }
})();
