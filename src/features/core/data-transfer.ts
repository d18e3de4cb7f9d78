import type { DataTransferRequest, DataTransferResponse } from '../../ocpp/generated/messages.js';
import type { FeatureContext } from '../context.js';

export type VendorHandler = (
  req: DataTransferRequest,
) => DataTransferResponse | Promise<DataTransferResponse>;

/** Vendor-specific DataTransfer extensions, by vendorId. */
export class VendorExtensions {
  private readonly handlers = new Map<string, VendorHandler>();

  register(vendorId: string, handler: VendorHandler): void {
    this.handlers.set(vendorId, handler);
  }

  get(vendorId: string): VendorHandler | undefined {
    return this.handlers.get(vendorId);
  }
}

export function registerDataTransfer(ctx: FeatureContext, vendors: VendorExtensions): void {
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
