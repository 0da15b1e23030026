/**
 * The daemon's outputs besides logs: Prometheus metrics (src/metrics) and the HTTP endpoints with
 * the per-device activity they serve (src/server). One prom-client Registry per daemon, never the
 * global one, so nothing registered elsewhere leaks into /metrics.
 */
import { Registry } from 'prom-client';
import { AlertService } from '../alerts/alert-service';
import { AlertSetupError } from '../alerts/sinks/secrets';
import type { Config } from '../config/types';
import type { PipelineSink } from '../sinks/types';
import { GeowardenMetrics } from '../metrics/geowarden-metrics';
import { DeviceActivity } from '../server/device-activity';
import { HttpListenError, startHttpServer } from '../server/http-server';
import type { Observability } from './daemon';
import { DaemonStartError } from './errors';
import type { Logger } from './logger';

export function createObservability(config: Config, log: Logger): Observability {
  const registry = new Registry();
  const metrics = new GeowardenMetrics(registry, { cardinalityLimit: config.metrics.cardinalityLimit, instance: config.instance });
  // Sized like the device table: the API lists at most the devices the pipeline tracks.
  const activity = new DeviceActivity({ maxDevices: config.devices.maxDevices });
  const alerts = createAlerting(config, log, registry);
  return {
    sinks: alerts ? [metrics.sink, activity, alerts.sink] : [metrics.sink, activity],
    bind({ pipeline, geo, capture }) {
      metrics.bindPipeline(pipeline, { live: true });
      metrics.bindGeo(geo);
      metrics.bindCapture(capture);
      alerts?.service.start();
    },
    async startServer({ listen, webConfigFile, ready }) {
      try {
        return await startHttpServer({
          listen,
          webConfigFile,
          registry,
          ready,
          devices: () => activity.snapshot(),
          routes: alerts?.service.routes(),
          log: (message) => log.warn(message, { component: 'http' }),
        });
      } catch (err) {
        // "cannot listen on 127.0.0.1:9847: address already in use": the admin's to fix, exit 2.
        if (err instanceof HttpListenError) throw new DaemonStartError(err.message);
        throw err;
      }
    },
  };
}

/**
 * Alerting (src/alerts) when `alerts:` is configured: its sink goes last, after metrics and
 * device activity. The pipeline's final flush at shutdown (onEnd) also stops it; deliveries
 * still pending stay in the alert database for the next start.
 */
function createAlerting(config: Config, log: Logger, registry: Registry): { service: AlertService; sink: PipelineSink } | null {
  if (!config.alerts) return null;
  let service: AlertService;
  try {
    service = AlertService.create({ ...AlertService.optionsFrom({ ...config, alerts: config.alerts }), log, registry });
  } catch (err) {
    // A missing secret (url_env, secret_file): the admin's to fix before alerts can go out, exit 2.
    if (err instanceof AlertSetupError) throw new DaemonStartError(err.problems.join('; '));
    throw err;
  }
  return {
    service,
    sink: {
      onFlow: (judged) => service.sink.onFlow(judged),
      onEnd: (summary) => {
        service.sink.onEnd?.(summary);
        void service.stop();
      },
    },
  };
}
