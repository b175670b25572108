"""Liveness and readiness."""
from flask_restx import Namespace, Resource

from ..db import get_db, ping
from ..errors import RETRY_AFTER_UNAVAILABLE, ApiError
from . import schemas

ns = Namespace("health", description="Liveness and readiness probes")
ns.add_model(schemas.status.name, schemas.status)
ns.add_model(schemas.problem.name, schemas.problem)


@ns.route("health")
class Health(Resource):
    @ns.response(200, "The process runs", schemas.status)
    def get(self):
        """Answer while the process runs; never touches the database."""
        return {"status": "ok"}


@ns.route("ready")
class Ready(Resource):
    @ns.response(200, "The database answers", schemas.status)
    @ns.response(503, "The database does not answer", schemas.problem)
    def get(self):
        """Answer 200 when the database answers a ping, else 503."""
        if not ping(get_db()):
            raise ApiError(503, "DATABASE_UNAVAILABLE", "the database does not answer a ping",
                           headers={"Retry-After": RETRY_AFTER_UNAVAILABLE})
        return {"status": "ready"}
