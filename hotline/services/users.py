"""Console users (``hotline users add``)."""

from __future__ import annotations

from sqlalchemy import select

from hotline.domain.errors import Conflict, InvalidField
from hotline.services.context import Context
from hotline.services.passwords import hash_password
from hotline.storage.reference import Department
from hotline.storage.users import User

ROLES = ("agent", "supervisor", "department", "admin")


async def add_user(
    ctx: Context,
    username: str,
    role: str,
    password: str,
    *,
    department: str | None = None,
    display_name: str | None = None,
) -> User:
    if role not in ROLES:
        raise InvalidField("role", f"must be one of {', '.join(ROLES)}")
    if role == "department" and not department:
        raise InvalidField("department", "a department user needs --department CODE")
    if role != "department" and department:
        raise InvalidField("department", "only department users belong to a department")
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        raise InvalidField("password", str(exc)) from exc
    async with ctx.db.sessions() as session, session.begin():
        if await session.scalar(select(User.id).where(User.username == username)):
            raise Conflict(f"user {username} exists", code="user_exists")
        if department and not await session.get(Department, department):
            raise InvalidField("department", f"unknown department {department}")
        user = User(
            username=username,
            display_name=display_name or username,
            role=role,
            department_code=department,
            password_hash=password_hash,
            active=True,
            created_at=ctx.clock.now(),
        )
        session.add(user)
    return user
