"""workcraft: background tasks whose only infrastructure is your MySQL/MariaDB database.

from workcraft import Workcraft

app = Workcraft()

@app.task("add")
def add(a: int, b: int) -> int:
    return a + b

task_id = app.send_task_sync("add", [1, 2])
app.get_result_sync(task_id, timeout=30)  # -> 3, once a peon ran it
"""

from loguru import logger

from workcraft.config import ConfigError, DBConfig, Settings, get_db_config, load_settings
from workcraft.context import TaskContext, current_task
from workcraft.core import DEFAULT_QUEUE, Workcraft
from workcraft.db import DatabaseError
from workcraft.errors import ResultTimeout, TaskFailed, WorkcraftError
from workcraft.handle import TaskHandle
from workcraft.models import PeonStatus, Task, TaskStatus
from workcraft.schedule import Schedule
from workcraft.schema import SchemaError, setup_database
from workcraft.version import __version__

# A library stays quiet in its users' logs unless they opt in with
# logger.enable("workcraft"); the CLI and the peon enable it for themselves.
logger.disable("workcraft")

__all__ = [
    "DEFAULT_QUEUE",
    "ConfigError",
    "DBConfig",
    "DatabaseError",
    "PeonStatus",
    "ResultTimeout",
    "Schedule",
    "SchemaError",
    "Settings",
    "Task",
    "TaskContext",
    "TaskFailed",
    "TaskHandle",
    "TaskStatus",
    "Workcraft",
    "WorkcraftError",
    "__version__",
    "current_task",
    "get_db_config",
    "load_settings",
    "setup_database",
]
