"""A container's config.toml: typed, validated on read, written atomically.

    model      the typed config (ContainerConfig and its parts)
    kinds      the closed sets it chooses from (init, storage, cgroup view)
    limits     the one table of resource limits, and the typed Limits
    signals    signals by name; each init's halt signal
    schema     config.toml's rules: a parsed document to a ContainerConfig
    tomlfile   the strict TOML reading every lxpy file goes through (errors: file:line: key)
    cache      the parsed-config cache that spares most commands tomllib
    file       config.toml on disk: load, parse, save
    edit       `lxpy config`: get, set and unset by dotted keys, $EDITOR

What most of lxpy needs is here by name.
"""

from lxpy.config.file import dump as dump
from lxpy.config.file import load as load
from lxpy.config.file import parse as parse
from lxpy.config.file import save as save
from lxpy.config.kinds import CgroupView as CgroupView
from lxpy.config.kinds import InitKind as InitKind
from lxpy.config.kinds import StorageKind as StorageKind
from lxpy.config.limits import Limits as Limits
from lxpy.config.model import PRIVILEGED_WARNING as PRIVILEGED_WARNING
from lxpy.config.model import ContainerConfig as ContainerConfig
from lxpy.config.model import IdMap as IdMap
from lxpy.config.model import InitConfig as InitConfig
from lxpy.config.model import Nic as Nic
from lxpy.config.model import PortForward as PortForward
from lxpy.config.model import Security as Security
from lxpy.config.model import SharedFolder as SharedFolder
from lxpy.config.model import Storage as Storage
from lxpy.config.model import User as User
from lxpy.config.model import timestamp as timestamp
