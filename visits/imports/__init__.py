"""Importing visits from the journal system (issue 26; API.md "Importing visits from the journal
system"): reading the file (`reader`), the models (`models`) and the preview and commit
(`service`), which save through the typed visit's own service."""
