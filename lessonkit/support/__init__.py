"""Small pieces every part of lessonkit shares: one redactor for everything written, complete-or-nothing file
replacement, exit hooks that run before the interpreter waits for threads, and errors shown in a cell as one line.
"""
