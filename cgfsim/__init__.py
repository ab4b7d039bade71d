"""cgfsim: a sandbox for learning the behaviour of computer generated forces.

Importing the package registers the Gymnasium ids ``cgfsim/<Scenario>-v0`` for
every built-in scenario and ``cgfsim/Scenario-v0`` for scenario files, with
string entry points: no env module, and no torch, is imported until used.
"""

from cgfsim.envs.registration import register_envs as _register_envs

_register_envs()
