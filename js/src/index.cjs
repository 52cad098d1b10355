'use strict';
// The CommonJS entry: `const { load } = require('namegen')`.
//
// The package is written as ES modules. Node 20.19+ and 22.12+ load an ES module with
// require(), so this gives the very module that `import` gives (the same NamegenError class).
// Older Nodes cannot: there, require('namegen') gives `load` alone, which imports the package
// on its first call (it is async anyway); its errors are still NamegenErrors (err.name).
try {
  module.exports = require('./index.js');
} catch (err) {
  if (err.code !== 'ERR_REQUIRE_ESM') throw err;
  let esm;
  exports.load = async (source, options) => (await (esm ??= import('./index.js'))).load(source, options);
}
