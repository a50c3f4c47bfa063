"""STREAM (spec 07): `connection` is the sans-I/O protocol core of one connection,
`client` the sender (probing, pacing, payments), `server` the receiver side serving many
connections from one secret, `errors` the failures and the payment receipt."""

from ilpnet.app.stream.client import Payment, StreamClient, pay
from ilpnet.app.stream.connection import AssetDetails, StreamConnection
from ilpnet.app.stream.errors import PaymentError, PaymentReceipt
from ilpnet.app.stream.server import Credentials, IncomingPayment, StreamServer

__all__ = [
    "AssetDetails",
    "Credentials",
    "IncomingPayment",
    "Payment",
    "PaymentError",
    "PaymentReceipt",
    "StreamClient",
    "StreamConnection",
    "StreamServer",
    "pay",
]
