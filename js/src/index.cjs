'use strict';
// The CommonJS entry: `const { load } = require('namegen')`.
//
// The package is written as ES modules. Node 20.19+ and 22.12+ load an ES module with
// require(), so this gives the very module that `import` gives (the same NamegenError class).
// Older Nodes cannot: there, require('namegen') gives `load`, `loadPretrained` and `pretrained`
// alone, which import the package on their first call (they are async anyway); its errors are
// still NamegenErrors (err.name).
try {
  module.exports = require('./index.js');
} catch (err) {
  if (err.code !== 'ERR_REQUIRE_ESM') throw err;
  let esm;
  const entry = () => (esm ??= import('./index.js'));
  exports.load = async (source, options) => (await entry()).load(source, options);
  exports.loadPretrained = async (name, options) => (await entry()).loadPretrained(name, options);
  exports.pretrained = async () => (await entry()).pretrained();
}
