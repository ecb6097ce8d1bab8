// A double of the Google Ads script runtime, enough to run a script made by `gateway ads-script`:
//   node ads_runtime.js SCRIPT.js '[{"name": "A", "labels": ["gw shop"], "suffix": ""}, ...]' ['{"run_s": 1800}']
// AdsApp.campaigns() with a LabelNames CONTAINS_ANY condition, campaign.urls() get/set/clearFinalUrlSuffix,
// getExecutionInfo().isPreview() and getRemainingTime(), UrlFetchApp.fetch (synchronous, as in Google Ads, over real
// HTTP to loopback; the response's getResponseCode, getContentText, getHeaders), Logger.log and Utilities.sleep.
// Time is the run's own clock: real time plus the time slept, which passes at once unless the options say
// {"real_sleep": true} (a sleep longer than Google's limit of 300000 ms throws, as there). Prints {"suffixes": {name: suffix}, "log": [lines], "slept_ms": N} once main()
// returns.
"use strict";

const fs = require("fs");
const vm = require("vm");
const childProcess = require("child_process");

const [scriptPath, campaignsJson, optionsJson] = process.argv.slice(2);
const campaigns = JSON.parse(campaignsJson).map((c) => ({ suffix: "", ...c }));
const options = { run_s: 1800, ...JSON.parse(optionsJson || "{}") };
const log = [];
const started = Date.now();
let sleptMs = 0;

function sleep(ms) {
  if (typeof ms !== "number" || ms < 0 || ms > 300000) {
    throw new Error("Utilities.sleep: the pause must be 0-300000 ms, not " + ms);
  }
  if (options.real_sleep) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  } else {
    sleptMs += ms;
  }
}

// Run in a child node process so that the fetch blocks the script, as UrlFetchApp.fetch does.
const FETCH = `
const [url, options] = [process.argv[1], JSON.parse(process.argv[2])];
fetch(url, {method: options.method || "get", headers: options.headers || {}})
  .then(async (r) => process.stdout.write(JSON.stringify({code: r.status, body: await r.text(),
                                                         headers: Object.fromEntries(r.headers)})))
  .catch((e) => { process.stderr.write(String(e)); process.exit(2); });
`;

function urlFetch(url, options) {
  const host = new URL(url).hostname;
  if (!/^(127\.|localhost$|\[::1\]$)/.test(host)) {
    throw new Error("the runtime double fetches loopback addresses only: " + url);
  }
  const out = childProcess.execFileSync(process.execPath, ["-e", FETCH, url, JSON.stringify(options || {})], {
    encoding: "utf8",
    timeout: 30000,
  });
  const response = JSON.parse(out);
  if (response.code >= 400 && !(options && options.muteHttpExceptions)) {
    throw new Error("Request failed for " + url + " returned code " + response.code);
  }
  return {
    getResponseCode: () => response.code,
    getContentText: () => response.body,
    getHeaders: () => response.headers,
  };
}

const CONDITION = /^LabelNames CONTAINS_ANY \[(.*)\]$/;

function selector(conditions) {
  return {
    withCondition: (condition) => selector([...conditions, condition]),
    get: () => {
      const chosen = campaigns.filter((campaign) =>
        conditions.every((condition) => {
          const match = CONDITION.exec(condition);
          if (!match) throw new Error("condition not understood by the double: " + condition);
          const labels = match[1].split(",").map((s) => s.trim().replace(/^'(.*)'$/, "$1"));
          return labels.some((label) => campaign.labels.includes(label));
        }),
      );
      let next = 0;
      return {
        hasNext: () => next < chosen.length,
        next: () => campaignOf(chosen[next++]),
        totalNumEntities: () => chosen.length,
      };
    },
  };
}

function campaignOf(campaign) {
  return {
    getName: () => campaign.name,
    urls: () => ({
      getFinalUrlSuffix: () => campaign.suffix,
      setFinalUrlSuffix: (suffix) => {
        campaign.suffix = suffix;
      },
      clearFinalUrlSuffix: () => {
        campaign.suffix = "";
      },
    }),
  };
}

const sandbox = {
  AdsApp: {
    campaigns: () => selector([]),
    getExecutionInfo: () => ({
      isPreview: () => false,
      getRemainingTime: () => options.run_s - (Date.now() - started + sleptMs) / 1000,
    }),
  },
  UrlFetchApp: { fetch: urlFetch },
  Logger: { log: (line) => log.push(String(line)) },
  Utilities: { sleep },
  JSON,
};
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(scriptPath, "utf8"), sandbox, { filename: scriptPath });
vm.runInContext("main()", sandbox);
const suffixes = Object.fromEntries(campaigns.map((c) => [c.name, c.suffix]));
process.stdout.write(JSON.stringify({ suffixes, log, slept_ms: sleptMs }));
