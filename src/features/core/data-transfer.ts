import { NotConnectedError } from '../../ocpp/errors.js';
import type { DataTransferRequest, DataTransferResponse } from '../../ocpp/generated/messages.js';
import type { RpcEndpoint } from '../../ocpp/rpc.js';
import type { FeatureContext } from '../context.js';

/**
 * Answers a central-system DataTransfer. It must not wait for a CALL of ours: those are held until
 * this CALL is answered (see RpcEndpoint), so it would stall until the call timeout.
 */
export type VendorHandler = (
  req: DataTransferRequest,
) => DataTransferResponse | Promise<DataTransferResponse>;

/**
 * Vendor-specific DataTransfer extensions, by vendorId, both ways: handlers for the central
 * system's requests, and `send` for ours (DataTransfer goes both ways in 1.6).
 */
export class VendorExtensions {
  private readonly handlers = new Map<string, VendorHandler>();
  private rpc: RpcEndpoint | undefined;

  /** Sends a DataTransfer to the central system; resolves with its answer, rejects as `rpc.call` does. */
  send(req: DataTransferRequest): Promise<DataTransferResponse> {
    if (!this.rpc) return Promise.reject(new NotConnectedError('DataTransfer is not wired to the RPC yet'));
    return this.rpc.call('DataTransfer', req);
  }

  register(vendorId: string, handler: VendorHandler): void {
    this.handlers.set(vendorId, handler);
  }

  get(vendorId: string): VendorHandler | undefined {
    return this.handlers.get(vendorId);
  }

  /** Wires `send` to the endpoint (the runtime creates the registry before its RPC). */
  connect(rpc: RpcEndpoint): void {
    this.rpc = rpc;
  }
}

export function registerDataTransfer(ctx: FeatureContext, vendors: VendorExtensions): void {
  vendors.connect(ctx.rpc);
  ctx.rpc.handle('DataTransfer', (req) => {
    const handler = vendors.get(req.vendorId);
    if (!handler) {
      ctx.log.info(
        { vendorId: req.vendorId, messageId: req.messageId },
        'DataTransfer for an unknown vendor',
      );
      return { status: 'UnknownVendorId' };
    }
    return handler(req);
  });
}
