"""Helpers shared by the test modules; no test module imports another.

Import from the module that holds the helper: ``from support.app import write_config``.

    app.py           a config file for the test servers, an App, the real command line
    mails.py         the citizen's complaint as intake tests send it, and who received what
    mailfactory/     raw mails: an ordinary builder and a corpus of messy mail
    config_files.py  config documents for the config and OAuth tests
    waiting.py       wait_until: wait for a condition instead of sleeping
    clock.py         FakeClock: a clock the test moves; fake_now for the CLI
    daemon.py        `mailbot run` as a child process, stopped with SIGTERM afterwards
    unit.py          deploy/mailbot.service for systemd-analyze, ExecStart= at a real mailbot
"""
