/* rolecall report.html: the findings explorer (chapters/findings.html.j2).
   Plain JavaScript, no library and no network: the rows come from the JSON blocks that
   reports/explorer.py writes into this file. Every value is data from AWS and may be hostile, so
   it is only ever shown with textContent, an attribute value or a relative href with a fixed
   prefix; nothing here parses data as HTML.
   State (search, filters, sort, page) lives in the URL hash, #findings?control=RC-1.1&status=fail,
   so the report's links open a filtered view and the back button returns to the previous one. */
(function () {
  'use strict';

  var section = document.getElementById('findings');
  var metaElement = document.getElementById('explorer-meta');
  if (!section || !metaElement) { return; }

  var meta = JSON.parse(metaElement.textContent);
  var dict = meta.dictionaries;
  var SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
  var STATUSES = ['pass', 'fail', 'excepted', 'error'];
  var NONE = '(none)';

  function codeArray(distinct, length) {
    if (distinct <= 256) { return new Uint8Array(length); }
    if (distinct <= 65536) { return new Uint16Array(length); }
    return new Uint32Array(length);
  }

  /* --- rows: columns of codes and two string columns ------------------------------------- */

  /* The reason dictionary (explorer-reasons blocks, in code order), then the rows. Each block's
     text is dropped once parsed, so the browser can free it. */
  function loadReasons() {
    var reasons = [];
    document.querySelectorAll('script.explorer-reasons').forEach(function (block) {
      var batch = JSON.parse(block.textContent);
      for (var j = 0; j < batch.length; j++) { reasons.push(batch[j]); }
      block.remove();
    });
    return reasons;
  }

  function loadRows(reasons) {
    var blocks = document.querySelectorAll('script.explorer-rows');
    var parsed = [];
    var total = 0;
    blocks.forEach(function (block) {
      var batch = JSON.parse(block.textContent);
      parsed.push(batch);
      total += batch.control.length;
      block.remove();
    });
    var rows = {
      length: total,
      reasons: reasons,
      control: codeArray(dict.control.length, total),
      account: codeArray(dict.account.length, total),
      status: codeArray(dict.status.length, total),
      severity: codeArray(dict.severity.length, total),
      type: codeArray(dict.type.length, total),
      exception: codeArray(dict.exception.length, total),
      reason: codeArray(reasons.length, total),
      resource: new Array(total)
    };
    var at = 0;
    parsed.forEach(function (batch, index) {
      var n = batch.control.length;
      ['control', 'account', 'status', 'severity', 'type', 'exception', 'reason'].forEach(function (key) {
        rows[key].set(batch[key], at);
      });
      for (var j = 0; j < n; j++) {
        var resource = batch.resource[j];
        rows.resource[at + j] = batch.arn[j] ?
          'arn:aws:iam::' + dict.account[batch.account[j]] + ':' + resource : resource;
      }
      at += n;
      parsed[index] = null;
    });
    return rows;
  }

  /* --- dictionaries the rows do not carry: guidance item per control, OU per account ------ */

  function derived(values, order) {
    var seen = {};
    var list = [];
    values.forEach(function (v) {
      var key = v === null || v === undefined ? NONE : String(v);
      if (!Object.prototype.hasOwnProperty.call(seen, key)) { seen[key] = true; list.push(key); }
    });
    list.sort(function (a, b) {
      var ia = order.indexOf(a), ib = order.indexOf(b);
      if (ia >= 0 || ib >= 0) { return (ia < 0 ? 1e9 : ia) - (ib < 0 ? 1e9 : ib); }
      if (a === NONE || b === NONE) { return a === NONE ? 1 : -1; }
      return a < b ? -1 : a > b ? 1 : 0;
    });
    var code = {};
    list.forEach(function (v, i) { code[v] = i; });
    var map = values.map(function (v) { return code[v === null || v === undefined ? NONE : String(v)]; });
    return { values: list, map: map };
  }

  var itemTitles = {};
  meta.items.forEach(function (g) { itemTitles[g.id] = g.title; });
  var items = derived(meta.controls.map(function (c) { return c.item; }),
                      meta.items.map(function (g) { return g.id; }));
  var ous = derived(meta.accounts.map(function (a) { return a.ou; }), []);
  var credentialReports = {};
  meta.credential_reports.forEach(function (id) { credentialReports[id] = true; });

  function label(value) { return value === null || value === undefined ? NONE : String(value); }

  /* Facets: the filters, each a dictionary of values and a way to read a row's code. */
  var rows = loadRows(loadReasons());
  var FACETS = [
    { key: 'control', values: dict.control.map(label),
      text: function (k) { return label(dict.control[k]) + ' \u2014 ' + meta.controls[k].title; },
      code: function (i) { return rows.control[i]; } },
    { key: 'item', values: items.values,
      text: function (k) {
        var id = items.values[k];
        return itemTitles[id] ? id + ' \u2014 ' + itemTitles[id] : id;
      },
      code: function (i) { return items.map[rows.control[i]]; } },
    { key: 'account', values: dict.account.map(label),
      text: function (k) {
        var name = meta.accounts[k].name;
        return label(dict.account[k]) + (name ? ' ' + name : '');
      },
      code: function (i) { return rows.account[i]; } },
    { key: 'ou', values: ous.values,
      text: function (k) { return ous.values[k]; },
      code: function (i) { return ous.map[rows.account[i]]; } },
    { key: 'severity', values: dict.severity.map(label),
      text: function (k) { return label(dict.severity[k]); },
      code: function (i) { return rows.severity[i]; } },
    { key: 'status', values: dict.status.map(label),
      text: function (k) { return label(dict.status[k]); },
      code: function (i) { return rows.status[i]; } }
  ];
  FACETS.forEach(function (f) {
    f.index = {};
    f.values.forEach(function (v, k) { f.index[v] = k; });
  });

  /* --- state <-> URL hash ----------------------------------------------------------------- */

  var DEFAULTS = { q: '', control: '', item: '', account: '', ou: '', severity: '', status: '',
                   sort: '', dir: 'asc', page: 1, size: 100 };
  var SIZES = [50, 100, 250, 500];

  function stateFromHash(hash) {
    var state = Object.assign({}, DEFAULTS);
    if (hash.indexOf('#findings') !== 0) { return state; }
    var at = hash.indexOf('?');
    var params = new URLSearchParams(at >= 0 ? hash.slice(at + 1) : '');
    Object.keys(DEFAULTS).forEach(function (key) {
      if (params.has(key)) { state[key] = params.get(key); }
    });
    state.page = Math.max(1, parseInt(state.page, 10) || 1);
    state.size = SIZES.indexOf(parseInt(state.size, 10)) >= 0 ? parseInt(state.size, 10) : DEFAULTS.size;
    state.dir = state.dir === 'desc' ? 'desc' : 'asc';
    return state;
  }

  function hashOf(state) {
    var params = new URLSearchParams();
    Object.keys(DEFAULTS).forEach(function (key) {
      if (String(state[key]) !== String(DEFAULTS[key])) { params.set(key, state[key]); }
    });
    var query = params.toString();
    return '#findings' + (query ? '?' + query : '');
  }

  var state = stateFromHash(location.hash);

  /* Filter and sort changes add a history entry (back undoes them); typing and paging replace it. */
  function update(changes, push) {
    var before = hashOf(state);
    Object.assign(state, changes);
    var after = hashOf(state);
    if (after !== before || location.hash !== after) {
      var same = push && after !== before ? 'pushState' : 'replaceState';
      history[same](null, '', after);
    }
    show();
  }

  /* --- filtering, counting, sorting ------------------------------------------------------- */

  function escapeRegExp(text) { return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }

  function matchingCodes(values, pattern) {
    return values.map(function (v) { return pattern.test(v); });
  }

  var cache = { key: null, matches: null, counts: null, byStatus: null };

  function compute() {
    var key = JSON.stringify([state.q, state.control, state.item, state.account, state.ou,
                              state.severity, state.status, state.sort, state.dir]);
    if (cache.key === key) { return cache; }
    var F = FACETS.length;
    var wanted = FACETS.map(function (f) {
      var value = state[f.key];
      if (value === '') { return -1; }
      return Object.prototype.hasOwnProperty.call(f.index, value) ? f.index[value] : -2;
    });
    var counts = FACETS.map(function (f) { return new Uint32Array(f.values.length); });
    var q = state.q.trim();
    var pattern = q ? new RegExp(escapeRegExp(q), 'i') : null;
    var hit = null;
    if (pattern) {
      hit = {
        control: matchingCodes(FACETS[0].values.map(function (_, k) { return FACETS[0].text(k); }), pattern),
        account: matchingCodes(FACETS[2].values.map(function (_, k) { return FACETS[2].text(k); }), pattern),
        ou: matchingCodes(ous.values, pattern),
        type: matchingCodes(dict.type.map(label), pattern),
        exception: dict.exception.map(function (v) { return v !== null && pattern.test(v); }),
        status: matchingCodes(dict.status.map(label), pattern),
        severity: matchingCodes(dict.severity.map(label), pattern),
        reason: matchingCodes(rows.reasons, pattern)
      };
    }
    var n = rows.length;
    var matches = new Uint32Array(n);
    var m = 0;
    var codes = new Int32Array(F);
    for (var i = 0; i < n; i++) {
      var missed = 0, which = -1;
      for (var f = 0; f < F; f++) {
        var c = FACETS[f].code(i);
        codes[f] = c;
        if (wanted[f] !== -1 && c !== wanted[f]) {
          missed++; which = f;
          if (missed > 1) { break; }
        }
      }
      if (missed > 1) { continue; }
      if (hit && !(hit.control[rows.control[i]] || hit.account[rows.account[i]] ||
                   hit.ou[ous.map[rows.account[i]]] || hit.type[rows.type[i]] ||
                   hit.exception[rows.exception[i]] || hit.status[rows.status[i]] ||
                   hit.severity[rows.severity[i]] ||
                   hit.reason[rows.reason[i]] || pattern.test(rows.resource[i]))) { continue; }
      if (missed === 1) { counts[which][codes[which]]++; continue; }
      for (var g = 0; g < F; g++) { counts[g][codes[g]]++; }
      matches[m++] = i;
    }
    matches = matches.subarray(0, m);
    sortRows(matches);
    var byStatus = new Uint32Array(dict.status.length);
    for (var j = 0; j < m; j++) { byStatus[rows.status[matches[j]]]++; }
    cache = { key: key, matches: matches, counts: counts, byStatus: byStatus };
    return cache;
  }

  var SORT_KEYS = {
    control: function (i) { return rows.control[i]; },
    item: function (i) { return items.map[rows.control[i]]; },
    account: function (i) { return rows.account[i]; },
    ou: function (i) { return ous.map[rows.account[i]]; },
    status: function (i) { return rows.status[i]; },
    // codes run from critical (0) down to info: ascending severity is descending code
    severity: function (i) { return -rows.severity[i]; },
    exception: function (i) { return rows.exception[i]; },
    resource: function (i) { return rows.resource[i]; },
    reason: function (i) { return rows.reason[i]; } // codes follow the text's byte order
  };

  /* The first click on a column sorts it this way: the most severe findings first. */
  var FIRST_DIR = { severity: 'desc' };

  /* Sorts in place; ties keep the embedded order (control, status, severity, account, resource). */
  function sortRows(matches) {
    var read = SORT_KEYS[state.sort];
    if (!read) { return; }
    var sign = state.dir === 'desc' ? -1 : 1;
    var keys = new Array(rows.length);
    for (var j = 0; j < matches.length; j++) { keys[matches[j]] = read(matches[j]); }
    matches.sort(function (a, b) {
      var ka = keys[a], kb = keys[b];
      if (ka < kb) { return -sign; }
      if (ka > kb) { return sign; }
      return a - b;
    });
  }

  /* --- rendering -------------------------------------------------------------------------- */

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function badge(kind, value, known) {
    var word = label(value);
    var cls = known.indexOf(word) >= 0 ? word : 'other';
    return element('span', kind + ' ' + kind + '-' + cls, word);
  }

  function link(href, text) {
    var a = element('a', null, text);
    a.setAttribute('href', href);
    return a;
  }

  function renderRow(position, i) {
    var tr = document.createElement('tr');
    var control = dict.control[rows.control[i]];
    var account = dict.account[rows.account[i]];
    var accountMeta = meta.accounts[rows.account[i]];
    var controlMeta = meta.controls[rows.control[i]];
    var exception = dict.exception[rows.exception[i]];
    tr.appendChild(element('td', 'num', (position + 1).toLocaleString('en')));
    var controlCell = element('td');
    controlCell.title = controlMeta.title;
    controlCell.appendChild(element('span', 'mono', label(control)));
    controlCell.appendChild(element('span', 'muted x-sub', items.values[items.map[rows.control[i]]]));
    tr.appendChild(controlCell);
    var accountCell = element('td');
    accountCell.appendChild(element('span', 'mono', account || '\u2014'));
    if (accountMeta.name) {
      accountCell.appendChild(document.createElement('br'));
      accountCell.appendChild(element('span', 'muted', accountMeta.name));
    }
    tr.appendChild(accountCell);
    tr.appendChild(element('td', null, accountMeta.ou || '\u2014'));
    var resourceCell = element('td');
    resourceCell.appendChild(element('span', 'mono', rows.resource[i]));
    resourceCell.appendChild(element('span', 'muted x-sub', label(dict.type[rows.type[i]])));
    tr.appendChild(resourceCell);
    var statusCell = element('td');
    statusCell.appendChild(badge('status', dict.status[rows.status[i]], STATUSES));
    if (exception !== null) { statusCell.appendChild(element('span', 'mono x-sub', exception)); }
    tr.appendChild(statusCell);
    var severityCell = element('td');
    severityCell.appendChild(badge('sev', dict.severity[rows.severity[i]], SEVERITIES));
    tr.appendChild(severityCell);
    tr.appendChild(element('td', 'x-reason', rows.reasons[rows.reason[i]] || '\u2014'));
    var evidence = element('td', 'x-evidence');
    if (control !== null) {
      evidence.appendChild(link(meta.evidence_base + 'evidence/controls/' + encodeURIComponent(control) + '.csv',
                                'control CSV'));
    }
    if (controlMeta.credential_report && account &&
        Object.prototype.hasOwnProperty.call(credentialReports, account)) {
      evidence.appendChild(document.createElement('br'));
      evidence.appendChild(link(meta.evidence_base + 'evidence/credential_reports/' +
                                encodeURIComponent(account) + '.csv',
                                'credential report'));
    }
    tr.appendChild(evidence);
    return tr;
  }

  var app = section.querySelector('.explorer-app');
  var form = app.querySelector('[data-role="form"]');
  var search = app.querySelector('[data-role="q"]');
  var tbody = app.querySelector('[data-role="rows"]');
  var countsLine = app.querySelector('[data-role="counts"]');
  var pageLine = app.querySelector('[data-role="page"]');
  var sizeSelect = app.querySelector('[data-role="size"]');
  var printLine = app.querySelector('[data-role="print-filters"]');
  var selects = {};
  FACETS.forEach(function (f) { selects[f.key] = app.querySelector('select[data-filter="' + f.key + '"]'); });

  function fillSelect(facet, counts) {
    var select = selects[facet.key];
    var options = [element('option', null, 'all')];
    options[0].value = '';
    facet.values.forEach(function (value, k) {
      var option = element('option', null, facet.text(k) + ' (' + counts[k].toLocaleString('en') + ')');
      option.value = value;
      options.push(option);
    });
    var current = state[facet.key];
    if (current !== '' && !Object.prototype.hasOwnProperty.call(facet.index, current)) {
      var unknown = element('option', null, current + ' (not in this run)');
      unknown.value = current;
      options.push(unknown);
    }
    select.replaceChildren.apply(select, options);
    select.value = current;
  }

  function plural(n, word) { return n.toLocaleString('en') + ' ' + word + (n === 1 ? '' : 's'); }

  function describeCounts(result) {
    var total = rows.length;
    var parts = [];
    dict.status.forEach(function (s, k) {
      if (result.byStatus[k]) { parts.push(result.byStatus[k].toLocaleString('en') + ' ' + label(s)); }
    });
    var text = result.matches.length.toLocaleString('en') + ' of ' + plural(total, 'listed result') + ' match';
    return text + (parts.length ? ': ' + parts.join(', ') + '.' : '.');
  }

  function describeFilters() {
    var parts = [];
    if (state.q.trim()) { parts.push('search "' + state.q.trim() + '"'); }
    FACETS.forEach(function (f) { if (state[f.key]) { parts.push(f.key + ' = ' + state[f.key]); } });
    if (state.sort) { parts.push('sorted by ' + state.sort + (state.dir === 'desc' ? ' (descending)' : '')); }
    return 'Findings explorer view: ' + (parts.length ? parts.join('; ') : 'every listed result') + '.';
  }

  function show() {
    var result = compute();
    FACETS.forEach(function (f, k) { fillSelect(f, result.counts[k]); });
    if (document.activeElement !== search) { search.value = state.q; }
    sizeSelect.value = String(state.size);
    var m = result.matches.length;
    var pages = Math.max(1, Math.ceil(m / state.size));
    var page = Math.min(state.page, pages);
    var start = (page - 1) * state.size;
    var end = Math.min(m, start + state.size);
    var fragment = document.createDocumentFragment();
    for (var p = start; p < end; p++) { fragment.appendChild(renderRow(p, result.matches[p])); }
    tbody.replaceChildren(fragment);
    if (m === 0) {
      var empty = element('tr');
      var cell = element('td', 'x-empty', 'No listed result matches these filters.');
      cell.colSpan = 9;
      empty.appendChild(cell);
      tbody.appendChild(empty);
    }
    countsLine.textContent = describeCounts(result);
    pageLine.textContent = m ? 'Rows ' + (start + 1).toLocaleString('en') + '\u2013' +
      end.toLocaleString('en') + ' of ' + m.toLocaleString('en') + ' (page ' +
      page.toLocaleString('en') + ' of ' + pages.toLocaleString('en') + ')' : 'No rows';
    app.querySelector('[data-page="first"]').disabled = page <= 1;
    app.querySelector('[data-page="prev"]').disabled = page <= 1;
    app.querySelector('[data-page="next"]').disabled = page >= pages;
    app.querySelector('[data-page="last"]').disabled = page >= pages;
    app.querySelectorAll('th[data-sort]').forEach(function (th) {
      var sorted = th.getAttribute('data-sort') === state.sort;
      th.setAttribute('aria-sort', sorted ? (state.dir === 'desc' ? 'descending' : 'ascending') : 'none');
    });
    printLine.textContent = describeFilters();
    section.setAttribute('data-rows', String(tbody.children.length));
    section.setAttribute('data-matches', String(m));
  }

  /* --- wiring ----------------------------------------------------------------------------- */

  function policyText() {
    if (rows.length !== meta.listed) {
      return 'This report is damaged: it should list ' + plural(meta.listed, 'result') + ' but holds ' +
        rows.length.toLocaleString('en') + '. evidence/controls/<control id>.csv lists every result.';
    }
    if (meta.pass_listed) {
      return 'Every result of this run is listed here: ' + plural(meta.rows, 'result') +
        ', one per population member of each control. Links in the summary and in each control ' +
        'open this list filtered; the address holds the filters, so a view can be bookmarked.';
    }
    return plural(meta.listed, 'result') + ' that are not passes (fail, excepted, error) are ' +
      'listed here. The run\u2019s ' + plural(meta.pass_rows, 'pass result') + ' are counted ' +
      'in the chapters but not listed, because the run has more than ' +
      meta.row_budget.toLocaleString('en') + ' results: evidence/controls/<control id>.csv ' +
      'lists every result of a control, passes included.';
  }

  FACETS.forEach(function (f) {
    selects[f.key].addEventListener('change', function () {
      var change = { page: 1 };
      change[f.key] = selects[f.key].value;
      update(change, true);
    });
  });
  var typing = null;
  search.addEventListener('input', function () {
    clearTimeout(typing);
    typing = setTimeout(function () { update({ q: search.value, page: 1 }, false); }, 200);
  });
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    clearTimeout(typing);
    update({ q: search.value, page: 1 }, true);
  });
  app.querySelector('[data-role="reset"]').addEventListener('click', function () {
    clearTimeout(typing);
    update({ q: '', control: '', item: '', account: '', ou: '', severity: '', status: '', page: 1 }, true);
  });
  app.querySelectorAll('th[data-sort] button').forEach(function (button) {
    button.addEventListener('click', function () {
      var column = button.parentNode.getAttribute('data-sort');
      var first = FIRST_DIR[column] || 'asc';
      var dir = state.sort === column ? (state.dir === 'asc' ? 'desc' : 'asc') : first;
      update({ sort: column, dir: dir, page: 1 }, true);
    });
  });
  app.querySelectorAll('[data-page]').forEach(function (button) {
    button.addEventListener('click', function () {
      var pages = Math.max(1, Math.ceil(compute().matches.length / state.size));
      var page = Math.min(state.page, pages);
      var to = { first: 1, prev: page - 1, next: page + 1, last: pages }[button.getAttribute('data-page')];
      update({ page: Math.max(1, Math.min(pages, to)) }, false);
    });
  });
  sizeSelect.addEventListener('change', function () {
    update({ size: parseInt(sizeSelect.value, 10) || DEFAULTS.size, page: 1 }, true);
  });
  /* A link to #findings?... or the back button: take the state from the address. A link to
     another chapter (#controls) leaves the explorer as it is; back to no hash at all resets it. */
  window.addEventListener('hashchange', function () {
    var explorer = location.hash.indexOf('#findings') === 0;
    if (!explorer && location.hash !== '') { return; }
    state = stateFromHash(location.hash);
    show();
    if (explorer) { section.scrollIntoView(); }
  });

  section.querySelector('.explorer-nojs').remove();
  app.querySelector('[data-role="policy"]').textContent = policyText();
  app.hidden = false;
  show();
  if (location.hash.indexOf('#findings') === 0) { section.scrollIntoView(); }
  section.setAttribute('data-ready', 'true');
})();
