/* The agent console's behaviour: one WebSocket for live updates, forms posted as JSON to the API
   with the session's CSRF header, and the desk's and triage queue's keyboard workflow.

   Safety: text that comes from the server as JSON is only ever written with textContent; HTML is
   only taken from the console's own server-rendered fragments (escaped by Jinja2). */
(function () {
  "use strict";

  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };

  var csrfMeta = $('meta[name="csrf-token"]');
  var CSRF = csrfMeta ? csrfMeta.content : "";
  var userMeta = $('meta[name="console-user"]');
  var ME = userMeta ? {
    id: Number(userMeta.content),
    username: userMeta.dataset.username,
    role: userMeta.dataset.role,
    department: userMeta.dataset.department
  } : null;
  var PAGE = document.body.dataset.page || "";

  var STATE_LABELS = { available: "示闲", on_call: "通话中", wrap_up: "话后整理", offline: "离线" };
  var RESULT_LABELS = {
    pending: "转接中", answered: "转接成功", busy: "对方忙", "no-answer": "无人接听",
    failed: "转接失败", canceled: "已取消"
  };
  var ACTION_LABELS = {
    received: "受理", triaged: "转待派单", answered: "直接答复", rejected: "不予受理",
    transferred: "转接紧急热线", merged: "并单", dispatched: "派单", signed: "签收",
    progress: "办理进展", return_requested: "申请退回", return_decided: "退回审核",
    extension_requested: "申请延期", extension_decided: "延期审批", suspended: "暂缓办理",
    resumed: "恢复办理", replied: "答复", callback_started: "转回访", closed: "办结",
    reopened: "重办", supervised: "督办", contact_attached: "重复来电(来信)",
    amended: "修改工单", noted: "记录"
  };
  var CHANNEL_LABELS = {
    phone: "12345电话", sms: "手机短信", wechat: "微信", mailbox: "市长信箱", platform: "上级平台交办",
    app: "手机客户端", weibo: "微博", console: "坐席录入", api: "接口"
  };

  function loginUrl() {
    return "/console/login?next=" + encodeURIComponent(location.pathname + location.search);
  }

  // -- messages ----------------------------------------------------------------------------

  function say(el, text, kind) {
    if (!el) { return; }
    el.textContent = text || "";
    el.classList.remove("ok", "error");
    if (kind) { el.classList.add(kind); }
  }

  function toast(text, href) {
    var box = $("#toasts");
    if (!box) { return; }
    var item = document.createElement("div");
    item.className = "toast";
    if (href) {
      var link = document.createElement("a");
      link.href = href;
      link.textContent = text;
      item.appendChild(link);
    } else {
      item.textContent = text;
    }
    box.appendChild(item);
    while (box.children.length > 4) { box.removeChild(box.firstChild); }
    setTimeout(function () { if (item.parentNode) { item.parentNode.removeChild(item); } }, 6000);
  }

  // -- the JSON API --------------------------------------------------------------------------

  function errorMessage(status, data) {
    var err = data && data.error;
    if (err && err.code === "version_conflict") { return err.message; }
    if (status === 409) {
      return (err && err.message ? err.message + "。" : "") + "工单状态已变化，请刷新页面查看最新状态。";
    }
    if (status === 429) { return "操作过于频繁，请稍后再试"; }
    if (err && err.message) { return err.message; }
    if (data && data.text) { return data.text; }
    return "操作失败（" + status + "），请稍后重试";
  }

  function api(method, url, body, headers) {
    var h = { "Accept": "application/json" };
    if (method !== "GET") { h["X-CSRF-Token"] = CSRF; }
    var init = { method: method, headers: h, credentials: "same-origin" };
    if (body !== undefined && method !== "GET") {
      h["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    return fetch(url, init).then(function (response) {
      if (response.status === 401) { location.href = loginUrl(); }
      var type = response.headers.get("Content-Type") || "";
      var parse = type.indexOf("json") >= 0
        ? response.json().catch(function () { return null; })
        : response.text().then(function (t) { return { text: t }; }, function () { return null; });
      return parse.then(function (data) {
        return {
          ok: response.ok, status: response.status, data: data,
          message: response.ok ? "" : errorMessage(response.status, data)
        };
      });
    }, function () {
      return { ok: false, status: 0, data: null, message: "网络连接失败，请检查网络后重试" };
    });
  }

  // -- live regions --------------------------------------------------------------------------

  function isEditing(el) {
    if (!el || el === document.body) { return false; }
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  var pending = new WeakMap();
  var running = new WeakMap();

  // A burst of events costs one refetch per region: after data-live-delay ms (busy regions
  // such as the call list wait longer, so 200 open desks do not refetch on every event).
  function schedule(region) {
    if (pending.get(region)) { return; }
    pending.set(region, setTimeout(function () {
      pending.delete(region);
      refresh(region);
    }, Number(region.dataset.liveDelay) || 300));
  }

  function refresh(region) {
    if (!region || !region.dataset.liveSrc) { return Promise.resolve(); }
    if (region.contains(document.activeElement) && isEditing(document.activeElement)) {
      region.dataset.stale = "1";  // not while someone types in it: when focus leaves
      return Promise.resolve();
    }
    if (running.get(region)) { region.dataset.again = "1"; return Promise.resolve(); }
    running.set(region, true);
    return fetch(region.dataset.liveSrc, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.status === 401) { location.href = loginUrl(); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null && html !== undefined) {
          region.innerHTML = html;
          delete region.dataset.stale;
          fillSelects(region);
          region.dispatchEvent(new CustomEvent("region:refreshed", { bubbles: true }));
        }
      }, function () { /* offline: the next event or reconnection refreshes */ })
      .then(function () {
        running.delete(region);
        if (region.dataset.again) { delete region.dataset.again; schedule(region); }
      });
  }

  function refreshAll() { $$("[data-live-src]").forEach(schedule); }

  document.addEventListener("focusout", function () {
    setTimeout(function () {
      $$("[data-live-src][data-stale]").forEach(function (region) {
        if (!region.contains(document.activeElement)) { refresh(region); }
      });
    }, 0);
  });

  $$("[data-live-every]").forEach(function (region) {
    var seconds = Number(region.dataset.liveEvery) || 10;
    setInterval(function () { schedule(region); }, seconds * 1000);
  });

  // -- the WebSocket -------------------------------------------------------------------------

  function setLive(state) {
    var el = $("#live-status");
    if (el) {
      el.dataset.state = state;
      el.textContent = { open: "实时", closed: "连接中断", connecting: "连接中" }[state];
    }
    document.body.dataset.live = state;
  }

  function onLiveEvent(ev) {
    if (!ev || ev.kind === "hello") { return; }
    if (ev.kind === "resync") {
      refreshAll();
      document.dispatchEvent(new CustomEvent("live:resync"));
      return;
    }
    document.dispatchEvent(new CustomEvent("live", { detail: ev }));
    $$("[data-live-src]").forEach(function (region) {
      var kinds = (region.dataset.liveKinds || "").split(/\s+/);
      if (kinds.indexOf(ev.kind) >= 0) { schedule(region); }
    });
  }

  var delay = 500;
  var everOpen = false;

  function connect() {
    if (!ME || !("WebSocket" in window)) { return; }
    setLive("connecting");
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/console/ws");
    ws.addEventListener("open", function () {
      setLive("open");
      delay = 500;
      if (everOpen) {  // events may have been missed while away
        refreshAll();
        document.dispatchEvent(new CustomEvent("live:resync"));
      }
      everOpen = true;
    });
    ws.addEventListener("message", function (e) {
      var msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      (msg.events || []).forEach(onLiveEvent);
    });
    ws.addEventListener("close", function (e) {
      setLive("closed");
      if (e.code === 4401) { location.href = loginUrl(); return; }
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    });
  }

  // new tickets and dispatches as toasts
  document.addEventListener("live", function (e) {
    var ev = e.detail;
    if (ev.kind !== "ticket" || !ME) { return; }
    if (ME.role !== "department" && ev.action === "received") {
      toast((ev.urgent ? "【紧急】" : "") + "新工单 " + ev.number + "（" + (CHANNEL_LABELS[ev.channel] || ev.channel) + "）",
        "/console/tickets/" + encodeURIComponent(ev.number));
    }
    if (ME.role === "department" && ev.action === "dispatched") {
      toast("新派单 " + ev.number, "/console/tickets/" + encodeURIComponent(ev.number));
    }
  });

  // -- forms posted as JSON ------------------------------------------------------------------

  function fillSelects(root) {
    var tpl = $("#dept-options");
    if (!tpl) { return; }
    $$("select[data-fill]", root).forEach(function (select) {
      if (select.dataset.filled) { return; }
      select.dataset.filled = "1";
      var chosen = select.value;
      select.appendChild(tpl.content.cloneNode(true));
      if (chosen) { select.value = chosen; }
    });
  }

  function convert(value, kind) {
    if (kind === "int") { return parseInt(value, 10); }
    if (kind === "bool") { return value === "true"; }
    if (kind === "list") { return value.split(/[,，\s]+/).filter(Boolean); }
    if (kind === "datetime") { return (value.length === 16 ? value + ":00" : value) + "+08:00"; }
    return value;
  }

  function formBody(form, submitter, msg) {
    var out = {};
    var drop = submitter && submitter.dataset.drop ? submitter.dataset.drop.split(",") : [];
    var elements = Array.prototype.slice.call(form.elements);
    for (var i = 0; i < elements.length; i++) {
      var el = elements[i];
      if (!el.name || el.disabled || el.tagName === "BUTTON" || el.type === "submit") { continue; }
      if (drop.indexOf(el.name) >= 0) { continue; }
      if (el.type === "radio" && !el.checked) { continue; }
      if (el.required && !String(el.value).trim()) {
        say(msg, "请填写必填项", "error");
        el.focus();
        return null;
      }
      if (el.type === "checkbox") { out[el.name] = el.checked; continue; }
      var value = String(el.value).trim();
      if (value === "") { continue; }
      out[el.name] = convert(value, el.dataset.json);
    }
    if (submitter && submitter.name) { out[submitter.name] = convert(submitter.value, submitter.dataset.json); }
    return out;
  }

  function busy(form, on) {
    $$("button", form).forEach(function (b) { b.disabled = on; });
  }

  document.addEventListener("submit", function (e) {
    var form = e.target.closest ? e.target.closest("form[data-api]") : null;
    if (!form) { return; }
    e.preventDefault();
    var msg = $(".form-msg", form);
    var body = formBody(form, e.submitter, msg);
    if (body === null) { return; }
    var method = form.dataset.method || "POST";
    say(msg, "提交中…", "");
    busy(form, true);
    api(method, form.dataset.api, method === "GET" ? undefined : body).then(function (res) {
      busy(form, false);
      if (!res.ok) { say(msg, res.message, "error"); return; }
      say(msg, form.dataset.success || "已完成", "ok");
      var after = form.dataset.after;
      if (after === "reload") { setTimeout(function () { location.reload(); }, 300); }
      if (after === "refresh") { refresh(form.closest("[data-live-src]")); }
    });
  });

  // -- the agent desk ------------------------------------------------------------------------

  function initDesk() {
    var ref = { departments: {}, divisions: {}, categories: {} };
    try { ref = JSON.parse($("#ref-data").textContent); } catch (err) { /* names stay codes */ }
    var form = $("#ticket-form");
    var msg = $("#ticket-msg");
    var touched = {};
    var modeTouched = false;
    var lastSuggestion = null;
    var suggestSeq = 0;
    var saving = false;
    var submission = newKey();

    function newKey() {
      return "desk-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
    }
    function name(kind, code) { return (code && ref[kind] && ref[kind][code]) || code || ""; }

    // state shared with the ACD
    function showState(state) {
      var el = $("#my-state");
      el.dataset.state = state;
      el.className = "state st-" + state;
      el.textContent = STATE_LABELS[state] || state;
    }
    function setState(state) {
      var phone = $("#agent-phone").value.trim();
      var body = { state: state };
      if (phone) { body.phone = phone; }
      return api("PUT", "/api/v1/agents/" + encodeURIComponent(ME.username) + "/state", body).then(function (res) {
        if (!res.ok) { say($("#state-msg"), res.message, "error"); return; }
        say($("#state-msg"), "", "");
        showState(res.data.state);
      });
    }
    $$("[data-set-state]").forEach(function (b) {
      b.addEventListener("click", function () { setState(b.dataset.setState); });
    });

    // the screen pop
    function currentCall() { return $("#f-call-sid").value; }
    function pop(callSid, ringing) {
      return fetch("/console/desk/caller?call=" + encodeURIComponent(callSid), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          var box = $("#screen-pop");
          box.innerHTML = html;
          if (ringing) {
            box.classList.remove("ringing");
            void box.offsetWidth;
            box.classList.add("ringing");
          }
          var caller = $("#caller", box);
          if (currentCall() !== callSid) {
            $("#f-call-sid").value = callSid;
            $("#f-phone").value = caller ? caller.dataset.phone : "";
            toast("来电 " + (caller ? caller.dataset.phone : ""));
          }
          document.body.dataset.popCall = callSid;
        });
    }
    function syncState() {
      return fetch("/console/desk/state", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (!s) { return; }
          showState(s.state);
          if (s.call_sid) { pop(s.call_sid, false); }
        });
    }
    document.addEventListener("live:resync", syncState);
    document.addEventListener("live", function (e) {
      var ev = e.detail;
      if (ev.kind === "agent" && ev.user === ME.id) { showState(ev.state); }
      if (ev.kind !== "call") { return; }
      if (ev.agent === ME.id && (ev.event === "offered" || ev.event === "answered")) {
        pop(ev.call_sid, ev.event === "offered");
      } else if (ev.call_sid && ev.call_sid === currentCall()) {
        pop(ev.call_sid, false);
      }
    });

    // one-key transfer on a live call
    document.addEventListener("click", function (e) {
      var b = e.target.closest ? e.target.closest("[data-transfer]") : null;
      if (!b) { return; }
      var box = b.closest(".transfer");
      var target = b.dataset.transfer;
      b.disabled = true;
      api("POST", "/api/v1/calls/" + encodeURIComponent(box.dataset.call) + "/transfer", { target: target })
        .then(function (res) {
          b.disabled = false;
          var li = document.createElement("li");
          if (!res.ok) {
            li.className = "tr-failed";
            li.textContent = "转接" + target + "：" + res.message;
          } else {
            var attempt = res.data.attempt;
            li.dataset.attempt = attempt.id;
            li.className = "tr-" + attempt.result;
            li.textContent = "转接" + target + "：" + (RESULT_LABELS[attempt.result] || attempt.result);
          }
          var list = $("#transfer-results");
          if (list) { list.appendChild(li); }
        });
    });

    // suggestions and division detection as the agent types
    ["type", "category", "division", "department"].forEach(function (k) {
      $("#f-" + k).addEventListener("change", function () { touched[k] = true; });
    });
    $$('input[name="mode"]').forEach(function (r) {
      r.addEventListener("change", function () { modeTouched = true; showMode(); });
    });
    function mode() { var r = $('input[name="mode"]:checked'); return r ? r.value : "register"; }
    function setMode(value) {
      var r = $('input[name="mode"][value="' + value + '"]');
      if (r) { r.checked = true; }
      showMode();
    }
    function showMode() { $("#answer-box").hidden = mode() !== "answer"; }

    function apply(s, force) {
      if (!s) { return; }
      if (s.type && (force || !touched.type)) { $("#f-type").value = s.type; }
      if (force || !touched.category) { $("#f-category").value = s.category || ""; }
      if (force || !touched.division) { $("#f-division").value = s.division || ""; }
      if (s.department && (force || !touched.department)) { $("#f-department").value = s.department; }
      if (s.department && s.kind === "ticket" && (force || !modeTouched) && mode() !== "answer") { setMode("dispatch"); }
    }

    function showSuggestion(s) {
      var box = $("#suggestion");
      var alertBox = $("#emergency-alert");
      var detect = $("#division-detect");
      if (!s) { box.hidden = true; alertBox.hidden = true; return; }
      var parts = [s.type, name("categories", s.category) || "分类待定", name("divisions", s.division) || "区划未识别"];
      $("#s-summary").textContent = parts.join(" · ") + " → " +
        (s.department ? name("departments", s.department) : "需人工判断承办单位") +
        "（置信度 " + Math.round((s.confidence || 0) * 100) + "%）";
      var list = $("#s-explain");
      list.textContent = "";
      (s.explanation || []).forEach(function (line) {
        var li = document.createElement("li");
        li.textContent = line;
        list.appendChild(li);
      });
      box.hidden = false;
      if (s.division) {
        detect.textContent = "识别区划：" + name("divisions", s.division);
        detect.classList.add("found");
      } else {
        detect.textContent = "未能识别区划，请补充县（市、区）或街道（乡镇）名称";
        detect.classList.remove("found");
      }
      if (s.kind === "emergency") {
        alertBox.textContent = "疑似紧急情况" + (s.emergency ? "，请立即一键转接 " + s.emergency : "") + "，并告知来电人拨打紧急电话。";
        alertBox.hidden = false;
      } else if (s.kind === "out_of_scope") {
        alertBox.textContent = "疑似不属于受理范围，请核实后告知来电人解决途径。";
        alertBox.hidden = false;
      } else {
        alertBox.hidden = true;
      }
    }

    function suggest() {
      var text = $("#f-content").value.trim();
      var address = $("#f-address").value.trim();
      if (!text && !address) { showSuggestion(null); return; }
      var seq = ++suggestSeq;
      var body = { text: text || address };
      if (address) { body.address = address; }
      api("POST", "/api/v1/route/suggest", body).then(function (res) {
        if (seq !== suggestSeq || !res.ok) { return; }
        lastSuggestion = res.data;
        showSuggestion(lastSuggestion);
        apply(lastSuggestion, false);
      });
    }
    var suggestTimer = null;
    function later(ms) {
      clearTimeout(suggestTimer);
      suggestTimer = setTimeout(suggest, ms);
    }
    $("#f-content").addEventListener("input", function () { later(350); });
    $("#f-address").addEventListener("input", function () { later(250); });
    $("#s-apply").addEventListener("click", function () { apply(lastSuggestion, true); });

    // knowledge base
    var kbTimer = null;
    var kbSeq = 0;
    $("#kb-q").addEventListener("input", function () {
      clearTimeout(kbTimer);
      kbTimer = setTimeout(searchKb, 250);
    });
    function searchKb() {
      var q = $("#kb-q").value.trim();
      var list = $("#kb-results");
      if (!q) { list.textContent = ""; return; }
      var seq = ++kbSeq;
      api("GET", "/api/v1/kb?q=" + encodeURIComponent(q)).then(function (res) {
        if (seq !== kbSeq) { return; }
        list.textContent = "";
        if (!res.ok) { var e = document.createElement("li"); e.textContent = res.message; list.appendChild(e); return; }
        var items = res.data.items || [];
        if (!items.length) {
          var none = document.createElement("li");
          none.className = "muted";
          none.textContent = "没有找到相关条目";
          list.appendChild(none);
        }
        items.forEach(function (item) {
          var li = document.createElement("li");
          var title = document.createElement("strong");
          title.textContent = item.title;
          var body = document.createElement("div");
          body.className = "body";
          body.textContent = item.body;
          var use = document.createElement("button");
          use.type = "button";
          use.textContent = "引用答复";
          use.addEventListener("click", function () {
            setMode("answer");
            modeTouched = true;
            $("#f-answer").value = item.body;
            $("#f-kb").value = item.code;
            $("#kb-cited").textContent = "引用知识库：" + item.title + "（" + item.code + "）";
          });
          li.appendChild(title);
          li.appendChild(body);
          li.appendChild(use);
          list.appendChild(li);
        });
      });
    }

    // saving: Ctrl+Enter anywhere on the desk
    function clearForm(keepCall) {
      ["#f-content", "#f-address", "#f-name", "#f-answer", "#f-kb"].forEach(function (s) { $(s).value = ""; });
      if (!keepCall) { $("#f-phone").value = ""; $("#f-call-sid").value = ""; }
      ["#f-category", "#f-division", "#f-department"].forEach(function (s) { $(s).value = ""; });
      $("#f-type").selectedIndex = 0;
      ["#f-confidential", "#f-assist", "#f-urgent"].forEach(function (s) { $(s).checked = false; });
      $("#kb-cited").textContent = "";
      touched = {};
      modeTouched = false;
      lastSuggestion = null;
      setMode("register");
      showSuggestion(null);
      $("#division-detect").textContent = "输入地址或内容后自动识别区划";
      $("#division-detect").classList.remove("found");
      submission = newKey();
    }
    $("#f-clear").addEventListener("click", function () { clearForm(false); say(msg, "", ""); });

    function done(text, number, kind) {
      msg.textContent = "";
      msg.classList.remove("ok", "error");
      msg.classList.add(kind);
      msg.appendChild(document.createTextNode(text + " "));
      var link = document.createElement("a");
      link.href = "/console/tickets/" + encodeURIComponent(number);
      link.textContent = "查看工单";
      msg.appendChild(link);
    }

    function save() {
      if (saving) { return; }
      var content = $("#f-content").value.trim();
      var how = mode();
      if (!content) { say(msg, "请填写诉求内容", "error"); $("#f-content").focus(); return; }
      if (how === "dispatch" && !$("#f-department").value) {
        say(msg, "请选择承办单位，或改为“仅登记”", "error");
        $("#f-department").focus();
        return;
      }
      if (how === "answer" && !$("#f-answer").value.trim()) {
        say(msg, "请填写答复内容", "error");
        $("#f-answer").focus();
        return;
      }
      var body = {
        type: $("#f-type").value,
        content: content,
        channel: "console",
        confidential: $("#f-confidential").checked,
        needs_assistance: $("#f-assist").checked,
        urgency: $("#f-urgent").checked ? "urgent" : "normal"
      };
      var optional = { address: "#f-address", phone: "#f-phone", name: "#f-name", category: "#f-category", division: "#f-division", call_sid: "#f-call-sid" };
      Object.keys(optional).forEach(function (k) {
        var v = $(optional[k]).value.trim();
        if (v) { body[k] = v; }
      });
      saving = true;
      say(msg, "保存中…", "");
      api("POST", "/api/v1/tickets", body, { "Idempotency-Key": submission }).then(function (res) {
        if (!res.ok) { saving = false; say(msg, "保存失败：" + res.message, "error"); return null; }
        var ticket = res.data;
        var number = ticket.number;
        var next;
        if (how === "dispatch") {
          var dept = $("#f-department").value;
          next = api("POST", "/console/api/tickets/" + encodeURIComponent(number) + "/dispatch",
            { department: dept, co_handlers: [], expected_version: ticket.version }).then(function (r) {
            return r.ok ? ["已登记工单 " + number + "，已派单至" + name("departments", dept) + "。", "ok"]
              : ["已登记工单 " + number + "，但派单未成功：" + r.message, "error"];
          });
        } else if (how === "answer") {
          var answer = { answer: $("#f-answer").value.trim() };
          if ($("#f-kb").value) { answer.kb_article = $("#f-kb").value; }
          next = api("POST", "/api/v1/tickets/" + encodeURIComponent(number) + "/answer", answer).then(function (r) {
            return r.ok ? ["已登记工单 " + number + "，已直接答复。", "ok"]
              : ["已登记工单 " + number + "，但答复未成功：" + r.message, "error"];
          });
        } else {
          next = Promise.resolve(["已登记工单 " + number + "，已进入分派队列。", "ok"]);
        }
        return next.then(function (outcome) {
          saving = false;
          document.body.dataset.lastTicket = number;
          clearForm(Boolean(currentCall()));
          done(outcome[0], number, outcome[1]);
        });
      });
    }
    form.addEventListener("submit", function (e) { e.preventDefault(); save(); });

    document.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); save(); return; }
      if (e.altKey && !e.ctrlKey) {
        var states = { Digit1: "available", Digit2: "wrap_up", Digit0: "offline" };
        if (states[e.code]) { e.preventDefault(); setState(states[e.code]); return; }
        if (e.code === "KeyS") { e.preventDefault(); apply(lastSuggestion, true); return; }
      }
      if (e.key === "/" && !isEditing(document.activeElement)) { e.preventDefault(); $("#kb-q").focus(); }
    });
    showMode();
  }

  // -- the triage queue ----------------------------------------------------------------------

  function initTriage() {
    var selected = null;
    function rows() { return $$(".triage-row"); }
    function select(row) {
      rows().forEach(function (r) { r.classList.toggle("selected", r === row); });
      selected = row ? row.dataset.number : null;
      if (row && row.scrollIntoView) { row.scrollIntoView({ block: "nearest" }); }
    }
    function current() {
      return rows().filter(function (r) { return r.dataset.number === selected; })[0] || null;
    }
    function move(step) {
      var all = rows();
      if (!all.length) { return; }
      var i = all.indexOf(current());
      select(all[Math.max(0, Math.min(all.length - 1, i < 0 ? 0 : i + step))]);
    }
    function dispatchRow(row, dept, co) {
      var msg = $(".form-msg", row);
      if (!dept) { say(msg, "请选择承办单位", "error"); return; }
      say(msg, "派单中…", "");
      api("POST", "/console/api/tickets/" + encodeURIComponent(row.dataset.number) + "/dispatch", {
        department: dept, co_handlers: co || [], expected_version: Number(row.dataset.version)
      }).then(function (res) {
        if (!res.ok) { say(msg, res.message, "error"); return; }
        var option = $('#dept-options');
        var label = dept;
        if (option) {
          var found = option.content.querySelector('option[value="' + CSS.escape(dept) + '"]');
          if (found) { label = found.textContent; }
        }
        say(msg, "已派单至" + label, "ok");
        row.classList.add("done");
        if (row.dataset.number === selected) { move(1); }
      });
    }
    function accept(row) {
      if (!row || !row.dataset.suggested) { return; }
      dispatchRow(row, row.dataset.suggested, (row.dataset.co || "").split(",").filter(Boolean));
    }
    document.addEventListener("click", function (e) {
      var row = e.target.closest ? e.target.closest(".triage-row") : null;
      if (!row) { return; }
      select(row);
      if (e.target.closest("[data-accept]")) { accept(row); }
      if (e.target.closest("[data-override]")) { dispatchRow(row, $("select.override", row).value); }
    });
    document.addEventListener("keydown", function (e) {
      var target = e.target;
      if (target && target.classList && target.classList.contains("override")) {
        if (e.key === "Enter") { e.preventDefault(); dispatchRow(target.closest(".triage-row"), target.value); target.blur(); }
        if (e.key === "Escape") { target.blur(); }
        return;
      }
      if (isEditing(target) || e.ctrlKey || e.altKey || e.metaKey) { return; }
      if (e.key === "ArrowDown" || e.key === "j") { e.preventDefault(); move(1); }
      else if (e.key === "ArrowUp" || e.key === "k") { e.preventDefault(); move(-1); }
      else if (e.key === "Enter" || e.key === "a") { e.preventDefault(); accept(current()); }
      else if (e.key === "o") {
        var row = current();
        if (row) { e.preventDefault(); $("select.override", row).focus(); }
      }
    });
    document.addEventListener("region:refreshed", function () {
      select(current() || rows()[0] || null);
    });
    select(rows()[0] || null);
  }

  // -- the ticket page -----------------------------------------------------------------------

  function initTicket() {
    var box = $("#ticket");
    if (!box) { return; }
    document.addEventListener("live", function (e) {
      var ev = e.detail;
      if (ev.kind !== "ticket" || ev.number !== box.dataset.number) { return; }
      if (Number(ev.version) <= Number(box.dataset.version)) { return; }
      var what = $("#ticket-updated-what");
      what.textContent = "第 " + ev.version + " 版：" + (ACTION_LABELS[ev.action] || ev.action) + (ev.actor ? "，" + ev.actor : "");
      $("#ticket-updated").hidden = false;
    });
  }

  // -- hotspots ------------------------------------------------------------------------------

  document.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest("[data-refresh-hotspots]") : null;
    if (!b) { return; }
    b.disabled = true;
    api("GET", "/api/v1/hotspots?refresh=true").then(function (res) {
      b.disabled = false;
      say($("#hotspot-msg"), res.ok ? "已重新统计" : res.message, res.ok ? "ok" : "error");
      refresh($("#hotspots-region"));
    });
  });

  // -- start ---------------------------------------------------------------------------------

  fillSelects(document);
  if (PAGE === "desk") { initDesk(); }
  if (PAGE === "triage") { initTriage(); }
  if (PAGE === "ticket") { initTicket(); }
  connect();
})();
