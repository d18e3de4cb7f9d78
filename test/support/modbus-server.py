#!/usr/bin/python3
"""An independent Modbus device for tests: a pymodbus 3.0 server (TCP or RTU) with a control channel.

Usage:
  modbus-server.py --tcp [--host 127.0.0.1] --units 1,2
  modbus-server.py --rtu /dev/pts/N --units 1,2 [--baudrate 9600] [--parity N]

Control channel: one JSON object per line on stdin, one JSON answer per line on stdout. The first line
on stdout is {"ready": true, "port": <tcp port or null>}. Every command carries an "id" that its answer
repeats: {"id": 7, "ok": true} or {"id": 7, "ok": false, "error": "..."}. An answer is written only
after the change is in effect, so a test that awaits it knows the device behaves the new way.

Commands:
  {"cmd": "set", "unit": 1, "table": "input"|"holding", "address": 72, "type": "float32", "value": 1234.5}
      type is float32 | uint32 | int32 | words (value: list of 16-bit words); big-endian, high word first;
      table "coil" takes words of 0 / 1
  {"cmd": "get", "unit": 1, "table": "input"|"holding"|"coil", "address": 22000, "count": 1}
      answers {"id": 7, "ok": true, "value": [16]}: what the device holds now (what a client wrote)
  {"cmd": "mode", "unit": 1, "mode": "normal" | "silent" | "exception", "code": 2}
      silent: the unit stops answering (as a dead RS-485 device); exception: every read is answered with
      that Modbus exception code
  {"cmd": "documented", "unit": 1, "table": "input", "ranges": [[0, 44], [46, 50]] | null}
      only these registers exist (each range [first, end)); a read that touches any other is answered
      with exception 2 (illegal data address), as an Eastron meter does. null: every register exists
  {"cmd": "drop"}   close every open TCP connection (a gateway reboot)

The process exits when stdin closes, so a test runner that dies never leaves a server behind.
"""

import argparse
import asyncio
import json
import logging
import struct
import sys

from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.exceptions import NoSuchSlaveException
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.pdu import ExceptionResponse
from pymodbus.server.async_io import ModbusSerialServer, ModbusTcpServer

# The whole 16-bit address space: charge controllers keep their registers at 20000 and above.
REGISTERS = 0x10000
TABLE_FC = {"input": 4, "holding": 3, "coil": 1}


class DocumentedDataBlock(ModbusSequentialDataBlock):
    """Registers of which only the documented ranges can be read; the server refuses the rest."""

    def __init__(self):
        super().__init__(0, [0] * REGISTERS)
        self.documented = None

    def validate(self, address, count=1):
        if not super().validate(address, count):
            return False
        if self.documented is None:
            return True
        return all(
            any(first <= register < end for first, end in self.documented)
            for register in range(address, address + count)
        )


class ControlledContext(ModbusServerContext):
    """Server context whose units can be silenced or made to answer with an exception."""

    def __init__(self, units):
        slaves = {
            unit: ModbusSlaveContext(
                ir=DocumentedDataBlock(),
                hr=DocumentedDataBlock(),
                co=DocumentedDataBlock(),
                zero_mode=True,
            )
            for unit in units
        }
        super().__init__(slaves=slaves, single=False)
        self.modes = {unit: ("normal", 0) for unit in units}

    def __getitem__(self, unit):
        # With ignore_missing_slaves the server sends nothing for a missing unit: a silent device.
        if self.modes.get(unit, ("normal", 0))[0] == "silent":
            raise NoSuchSlaveException(f"unit {unit} is silenced")
        return super().__getitem__(unit)

    def manipulate(self, response):
        mode, code = self.modes.get(response.unit_id, ("normal", 0))
        if mode == "exception" and not isinstance(response, ExceptionResponse):
            replaced = ExceptionResponse(response.function_code, code)
            replaced.transaction_id = response.transaction_id
            replaced.unit_id = response.unit_id
            return replaced, False
        return response, False


def encode(kind, value):
    if kind == "float32":
        return list(struct.unpack(">HH", struct.pack(">f", float(value))))
    if kind == "uint32":
        return list(struct.unpack(">HH", struct.pack(">I", int(value))))
    if kind == "int32":
        return list(struct.unpack(">HH", struct.pack(">i", int(value))))
    if kind == "words":
        return [int(w) & 0xFFFF for w in value]
    raise ValueError(f"unknown type {kind}")


def apply(context, tcp_server, command):
    cmd = command.get("cmd")
    if cmd == "set":
        unit = int(command["unit"])
        slave = ModbusServerContext.__getitem__(context, unit)
        words = encode(command["type"], command["value"])
        slave.setValues(TABLE_FC[command["table"]], int(command["address"]), words)
    elif cmd == "get":
        unit = int(command["unit"])
        slave = ModbusServerContext.__getitem__(context, unit)
        values = slave.getValues(TABLE_FC[command["table"]], int(command["address"]), int(command.get("count", 1)))
        return [int(v) for v in values]
    elif cmd == "documented":
        unit = int(command["unit"])
        slave = ModbusServerContext.__getitem__(context, unit)
        block = slave.store[slave.decode(TABLE_FC[command["table"]])]
        ranges = command["ranges"]
        block.documented = None if ranges is None else [(int(a), int(b)) for a, b in ranges]
    elif cmd == "mode":
        unit = int(command["unit"])
        if unit not in context.modes:
            raise ValueError(f"no unit {unit}")
        context.modes[unit] = (command["mode"], int(command.get("code", 0)))
    elif cmd == "drop":
        if tcp_server is not None:
            for handler in list(tcp_server.active_connections.values()):
                handler.transport.close()
    else:
        raise ValueError(f"unknown command {cmd}")


def answer(payload):
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def control_loop(context, tcp_server):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        if not line.strip():
            continue
        command_id = None
        try:
            command = json.loads(line)
            command_id = command.get("id")
            value = apply(context, tcp_server, command)
            answer({"id": command_id, "ok": True, **({} if value is None else {"value": value})})
        except Exception as exc:  # pylint: disable=broad-except
            answer({"id": command_id, "ok": False, "error": str(exc)})


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tcp", action="store_true")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--rtu")
    parser.add_argument("--baudrate", type=int, default=9600)
    parser.add_argument("--parity", default="N")
    parser.add_argument("--units", default="1")
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    units = [int(u) for u in args.units.split(",") if u]
    context = ControlledContext(units)
    common = {"ignore_missing_slaves": True, "response_manipulator": context.manipulate}

    if args.tcp:
        server = ModbusTcpServer(context, address=(args.host, 0), **common)
        serving = asyncio.create_task(server.serve_forever())
        await server.serving
        port = server.server.sockets[0].getsockname()[1]
        tcp_server = server
    else:
        server = ModbusSerialServer(
            context,
            framer=ModbusRtuFramer,
            port=args.rtu,
            baudrate=args.baudrate,
            parity=args.parity,
            **common,
        )
        await server.start()
        serving = None
        port = None
        tcp_server = None

    answer({"ready": True, "port": port})
    try:
        await control_loop(context, tcp_server)
    finally:
        await server.shutdown()
        if serving is not None:
            serving.cancel()


if __name__ == "__main__":
    asyncio.run(main())
