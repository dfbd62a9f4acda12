/* global console, window */
// Build and start the JupyterLab application from the core plugins (bundled)
// and the prebuilt extensions initialised by bootstrap.js.
import { JupyterPluginRegistry, PageConfig } from '@jupyterlab/coreutils';
import { JupyterLab } from '@jupyterlab/application';
import { IConnectionStatus, IServiceManager } from '@jupyterlab/services';
import '../style.js';
import { extensions, mimeExtensions } from './plugins.gen';

const pluginsOf = mod => {
  const exp = mod.default !== undefined ? mod.default : mod; // ES module or CommonJS
  return Array.isArray(exp) ? exp : [exp];
};

async function federatedModule(scope, module) {
  const factory = await window._JUPYTERLAB[scope].get(module);
  return factory();
}

export async function start(federated) {
  const disabled = PageConfig.Extension.disabled; // from page_config disabledExtensions
  const isDisabled = id =>
    disabled.some(d => d === id || d === id.split(':')[0]);
  const federatedNames = new Set(federated.map(e => e.name));

  // core plugins (skip a core package if a prebuilt version of it was provided)
  const load = async list =>
    (await Promise.all(
      list.filter(([n]) => !federatedNames.has(n)).map(async ([, imp]) => pluginsOf(await imp()))
    )).flat();
  const plugins = await load(extensions);
  const mimePlugins = await load(mimeExtensions);

  // prebuilt extensions
  for (const ext of federated) {
    try {
      if (ext.extension) {
        plugins.push(...pluginsOf(await federatedModule(ext.name, ext.extension)));
      }
      if (ext.mimeExtension) {
        mimePlugins.push(...pluginsOf(await federatedModule(ext.name, ext.mimeExtension)));
      }
      if (ext.style) {
        await federatedModule(ext.name, ext.style);
      }
    } catch (e) {
      console.error(`prebuilt extension ${ext.name} failed to load`, e);
    }
  }

  const registry = new JupyterPluginRegistry();
  registry.registerPlugins(plugins.filter(p => !isDisabled(p.id)));
  const serviceManager = await registry.resolveRequiredService(IServiceManager);
  const connectionStatus = await registry.resolveOptionalService(IConnectionStatus);
  const lab = new JupyterLab({
    pluginRegistry: registry,
    serviceManager,
    connectionStatus,
    mimeExtensions: mimePlugins.filter(p => !isDisabled(p.id))
  });
  if ((PageConfig.getOption('exposeAppInBrowser') || '').toLowerCase() === 'true') {
    window.jupyterapp = lab; // galata and the plain Playwright tests use this
  }
  await lab.start({ bubblingKeydown: true });
}
