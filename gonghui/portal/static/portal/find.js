// Cascading region selects for the union finder: choosing a province fills the cities,
// a city fills the districts. The region tree (only regions that have unions) comes
// from the page's json_script; the server renders the same options without JavaScript.
(function () {
  "use strict";
  function init() {
    var data = document.getElementById("find-regions");
    var province = document.getElementById("find-province");
    var city = document.getElementById("find-city");
    var district = document.getElementById("find-district");
    var street = document.getElementById("find-street");
    if (!data || !province || !city || !district || !street) return;
    var tree = JSON.parse(data.textContent);

    function childrenOf(list, code) {
      for (var i = 0; i < list.length; i++) if (list[i].code === code) return list[i].children;
      return [];
    }
    function find(list, code) {
      for (var i = 0; i < list.length; i++) if (list[i].code === code) return list[i];
      return null;
    }
    function fill(select, items) {
      select.length = 1; // keep the "全部…" option
      items.forEach(function (item) { select.add(new Option(item.name, item.code)); });
      select.value = "";
      select.disabled = items.length === 0;
    }
    // These listeners run before htmx's listener on the form (the event bubbles to it),
    // so the request already carries the cleared lower levels.
    province.addEventListener("change", function () {
      fill(city, childrenOf(tree, province.value));
      fill(district, []);
      fill(street, []);
    });
    city.addEventListener("change", function () {
      fill(district, childrenOf(childrenOf(tree, province.value), city.value));
      fill(street, []);
    });
    district.addEventListener("change", function () {
      var d = find(childrenOf(childrenOf(tree, province.value), city.value), district.value);
      fill(street, d ? d.streets : []);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
