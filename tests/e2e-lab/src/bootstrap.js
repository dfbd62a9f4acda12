/* global console, document, window */
// Entry point: set the public path, initialise the prebuilt (federated)
// extensions listed in page_config.federated_extensions against our share
// scope, then start the application (src/main.js).
const config = JSON.parse(document.getElementById('jupyter-config-data').textContent || '{}');

// eslint-disable-next-line no-undef
__webpack_public_path__ = config.fullStaticUrl + '/';

function addScript(url) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = url;
    s.async = true;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`could not load ${url}`));
    document.head.appendChild(s);
  });
}

async function initRemote(ext) {
  await addScript(`${config.fullLabextensionsUrl}/${ext.name}/${ext.load}`);
  // eslint-disable-next-line no-undef
  await __webpack_init_sharing__('default');
  // eslint-disable-next-line no-undef
  await window._JUPYTERLAB[ext.name].init(__webpack_share_scopes__.default);
}

(async () => {
  const federated = config.federated_extensions || [];
  const results = await Promise.allSettled(federated.map(initRemote));
  results.forEach(r => r.status === 'rejected' && console.error(r.reason));
  const ready = federated.filter((_, i) => results[i].status === 'fulfilled');
  const { start } = await import('./main');
  await start(ready);
})();
