// A double of the Google Ads script runtime, enough to run a script made by `gateway ads-script`:
//   node ads_runtime.js SCRIPT.js '[{"name": "A", "labels": ["gw shop"], "suffix": ""}, ...]'
// AdsApp.campaigns() with a LabelNames CONTAINS_ANY condition, campaign.urls() get/setFinalUrlSuffix,
// getExecutionInfo().isPreview(), UrlFetchApp.fetch (synchronous, as in Google Ads, over real HTTP to loopback),
// Logger.log and Utilities.sleep. Prints {"suffixes": {name: suffix}, "log": [lines]} once main() returns.
"use strict";

const fs = require("fs");
const vm = require("vm");
const childProcess = require("child_process");

const [scriptPath, campaignsJson] = process.argv.slice(2);
const campaigns = JSON.parse(campaignsJson).map((c) => ({ suffix: "", ...c }));
const log = [];

// Run in a child node process so that the fetch blocks the script, as UrlFetchApp.fetch does.
const FETCH = `
const [url, options] = [process.argv[1], JSON.parse(process.argv[2])];
fetch(url, {method: options.method || "get", headers: options.headers || {}})
  .then(async (r) => process.stdout.write(JSON.stringify({code: r.status, body: await r.text()})))
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
  return { getResponseCode: () => response.code, getContentText: () => response.body };
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
    }),
  };
}

const sandbox = {
  AdsApp: {
    campaigns: () => selector([]),
    getExecutionInfo: () => ({ isPreview: () => false }),
  },
  UrlFetchApp: { fetch: urlFetch },
  Logger: { log: (line) => log.push(String(line)) },
  Utilities: { sleep: (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms) },
  JSON,
};
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(scriptPath, "utf8"), sandbox, { filename: scriptPath });
vm.runInContext("main()", sandbox);
const suffixes = Object.fromEntries(campaigns.map((c) => [c.name, c.suffix]));
process.stdout.write(JSON.stringify({ suffixes, log }));
